//! A tiny HTTP helper over reqwest for talking to the API server in tests.
#![allow(dead_code)]

use serde_json::Value;

pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api { base: base.trim_end_matches('/').to_owned(), client: reqwest::Client::new() }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        accept: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{}", self.base, path));
        if let Some(ct) = content_type {
            req = req.header("Content-Type", ct);
        }
        if let Some(a) = accept {
            req = req.header("Accept", a);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        Resp { status, headers, text }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None, None, None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send("POST", path, Some("application/json"), None, Some(serde_json::to_vec(body).unwrap())).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send("PUT", path, Some("application/json"), None, Some(serde_json::to_vec(body).unwrap())).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &Value) -> Resp {
        self.send("PATCH", path, Some(content_type), None, Some(serde_json::to_vec(body).unwrap())).await
    }

    pub async fn delete(&self, path: &str, body: Option<&Value>) -> Resp {
        let b = body.map(|b| serde_json::to_vec(b).unwrap());
        self.send("DELETE", path, Some("application/json"), None, b).await
    }
}

pub fn pod(name: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "app": "web" } },
        "spec": { "containers": [{ "name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"] }] }
    })
}

//! HTTP routing: paths and verbs to handlers. Resource paths are parsed here into a [`Target`];
//! the handlers translate between HTTP and the object verbs in `objects`.

mod discovery;
mod handlers;
mod openapi;
mod proxy;
mod watch;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};

use crate::error::ApiError;
use crate::objects::Target;
use crate::query::Query;
use crate::resources;
use crate::AppState;

/// The whole API as one router.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/version", get(|| async { Json(discovery::version()) }))
        .route("/healthz", get(health))
        .route("/livez", get(health))
        .route("/readyz", get(health))
        .route("/api", get(|headers: HeaderMap| async move { discovery::api(&headers) }))
        .route("/api/", get(|headers: HeaderMap| async move { discovery::api(&headers) }))
        .route("/apis", get(|headers: HeaderMap| async move { discovery::apis(&headers) }))
        .route("/apis/", get(|headers: HeaderMap| async move { discovery::apis(&headers) }))
        .route("/openapi/v3", get(|| async { Json(openapi::root()) }))
        .route("/openapi/v3/{*path}", get(openapi_group))
        .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(proxy::logs))
        .route("/api/v1/namespaces/{ns}/pods/{name}/exec", any(proxy::exec))
        .route("/api/v1/namespaces/{ns}/pods/{name}/attach", any(proxy::attach))
        .route("/api/{*rest}", any(resource))
        .route("/apis/{*rest}", any(resource))
        .fallback(|| async { ApiError::NoRoute })
        .with_state(state)
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    "ok".into_response()
}

async fn openapi_group(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    match openapi::group_document(&path) {
        Some(doc) => {
            let mut resp = Json(doc).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, immutable, max-age=31536000"));
            resp
        }
        None => ApiError::NoRoute.into_response(),
    }
}

/// Where a path under `/api` or `/apis` points.
enum Route {
    Discovery(Response),
    Object(Target),
}

fn parse(path: &str, headers: &HeaderMap) -> Result<Route, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api"] => return Ok(Route::Discovery(discovery::api(headers))),
        ["apis"] => return Ok(Route::Discovery(discovery::apis(headers))),
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g] => {
            return discovery::group(g).map(|b| Route::Discovery(Json(b).into_response())).ok_or(ApiError::NoRoute)
        }
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::NoRoute),
    };
    if rest.is_empty() {
        return discovery::resource_list(group, version)
            .map(|b| Route::Discovery(Json(b).into_response()))
            .ok_or(ApiError::NoRoute);
    }
    let find = |plural: &str| resources::find(group, version, plural).ok_or(ApiError::NoRoute);
    let owned = |s: &str| Some(s.to_owned());
    let target = match rest {
        ["namespaces", ns, sub @ ("status" | "finalize")] => {
            Target { res: find("namespaces")?, namespace: None, name: owned(ns), sub: owned(sub) }
        }
        ["namespaces", ns, plural, tail @ ..] => {
            let res = find(plural)?;
            if !res.namespaced {
                return Err(ApiError::NoRoute);
            }
            match tail {
                [] => Target { res, namespace: owned(ns), name: None, sub: None },
                [name] => Target { res, namespace: owned(ns), name: owned(name), sub: None },
                [name, sub] => Target { res, namespace: owned(ns), name: owned(name), sub: owned(sub) },
                _ => return Err(ApiError::NoRoute),
            }
        }
        [plural, tail @ ..] => {
            let res = find(plural)?;
            match tail {
                [] => Target { res, namespace: None, name: None, sub: None },
                [_, ..] if res.namespaced => return Err(ApiError::NoRoute),
                [name] => Target { res, namespace: None, name: owned(name), sub: None },
                [name, sub] => Target { res, namespace: None, name: owned(name), sub: owned(sub) },
                _ => return Err(ApiError::NoRoute),
            }
        }
        [] => return Err(ApiError::NoRoute),
    };
    if let Some(sub) = &target.sub {
        if !target.res.subresources.iter().any(|s| s.name == sub) {
            return Err(ApiError::NoRoute);
        }
    }
    Ok(Route::Object(target))
}

async fn resource(State(state): State<Arc<AppState>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let route = match parse(parts.uri.path(), &parts.headers) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let target = match route {
        Route::Discovery(resp) => return resp,
        Route::Object(t) => t,
    };
    let query = Query::parse(parts.uri.query());
    let body = match read_body(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let result = match parts.method {
        Method::GET => handlers::get_or_list(&state, &target, &query, &parts.headers).await,
        Method::POST => handlers::post(&state, &target, &query, &parts.headers, body).await,
        Method::PUT => handlers::put(&state, &target, &query, &parts.headers, body).await,
        Method::PATCH => handlers::patch(&state, &target, &query, &parts.headers, body).await,
        Method::DELETE => handlers::delete(&state, &target, &query, &parts.headers, body).await,
        _ => Err(ApiError::MethodNotAllowed),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn read_body(body: axum::body::Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, crate::body::MAX_BODY + 1).await.map_err(|e| {
        let too_large = std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
            || e.to_string().contains("length limit");
        if too_large {
            ApiError::TooLarge { limit: crate::body::MAX_BODY }
        } else {
            ApiError::bad_request(format!("cannot read the request body: {e}"))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path, &HeaderMap::new()) {
            Ok(Route::Object(t)) => t,
            Ok(Route::Discovery(_)) => panic!("{path}: discovery"),
            Err(e) => panic!("{path}: {e}"),
        }
    }

    #[test]
    fn paths_parse_into_targets() {
        let t = target("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (t.res.plural, t.namespace.as_deref(), t.name.as_deref(), t.sub.as_deref()),
            ("pods", Some("default"), Some("web"), Some("status"))
        );
        let t = target("/api/v1/namespaces/kube-system");
        assert_eq!((t.res.plural, t.name.as_deref()), ("namespaces", Some("kube-system")));
        let t = target("/api/v1/pods");
        assert_eq!((t.res.plural, t.namespace, t.name), ("pods", None, None));
        let t = target("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1");
        assert_eq!((t.res.plural, t.name.as_deref()), ("leases", Some("n1")));
        let t = target("/api/v1/nodes/n1/status");
        assert_eq!((t.res.plural, t.sub.as_deref()), ("nodes", Some("status")));
    }

    #[test]
    fn bad_paths_are_not_found() {
        for p in [
            "/api/v1/foos",
            "/api/v1/pods/x",
            "/api/v1/namespaces/d/nodes",
            "/api/v2/pods",
            "/api/v1/namespaces/d/pods/x/bogus",
        ] {
            assert!(matches!(parse(p, &HeaderMap::new()), Err(ApiError::NoRoute)), "{p}");
        }
    }
}

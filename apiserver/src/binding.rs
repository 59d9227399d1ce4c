//! `pods/binding`: assign a pending Pod to a Node, only while it is unassigned.

use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::objects::{now_rfc3339, store_bytes, Target, WriteOptions};
use crate::AppState;

impl AppState {
    pub async fn bind(&self, target: &Target, binding: &Value, opts: WriteOptions) -> ApiResult<()> {
        let node = binding
            .pointer("/target/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("Binding target.name is required"))?
            .to_owned();
        if let Some(name) = binding.pointer("/metadata/name").and_then(Value::as_str) {
            if name != target.name() {
                return Err(ApiError::bad_request("the name of the Binding does not match the pod"));
            }
        }
        let pod_target = Target { sub: None, ..target.clone() };
        loop {
            let current = self.get_entry(&pod_target, None).await?;
            let mut pod = current.value()?;
            if let Some(uid) = binding.pointer("/metadata/uid").and_then(Value::as_str) {
                if !uid.is_empty() && uid != current.uid {
                    return Err(ApiError::Conflict {
                        kind: "pods/binding".into(),
                        name: target.name().into(),
                        detail: "the UID of the Binding does not match the pod".into(),
                    });
                }
            }
            if pod.pointer("/metadata/deletionTimestamp").is_some() {
                return Err(ApiError::Conflict {
                    kind: "pods/binding".into(),
                    name: target.name().into(),
                    detail: format!("pod {} is being deleted, cannot be assigned to a host", target.name()),
                });
            }
            if let Some(existing) = pod.pointer("/spec/nodeName").and_then(Value::as_str).filter(|n| !n.is_empty()) {
                return Err(ApiError::Conflict {
                    kind: "pods/binding".into(),
                    name: target.name().into(),
                    detail: format!("pod {} is already assigned to node \"{existing}\"", target.name()),
                });
            }
            pod["spec"]["nodeName"] = json!(node);
            set_scheduled_condition(&mut pod);
            if opts.dry_run {
                return Ok(());
            }
            match self.store.update(&current.key, store_bytes(&mut pod)?, current.rv).await {
                Ok(_) => return Ok(()),
                Err(minik_store::StoreError::Conflict { .. }) => continue,
                Err(minik_store::StoreError::NotFound { .. }) => return Err(target.not_found()),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn set_scheduled_condition(pod: &mut Value) {
    let condition = json!({
        "type": "PodScheduled",
        "status": "True",
        "lastProbeTime": null,
        "lastTransitionTime": now_rfc3339(),
    });
    let status = pod.as_object_mut().map(|m| m.entry("status").or_insert_with(|| json!({})));
    let Some(status) = status.and_then(Value::as_object_mut) else { return };
    let conditions = status.entry("conditions").or_insert_with(|| json!([]));
    if let Some(list) = conditions.as_array_mut() {
        list.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        list.push(condition);
    }
}

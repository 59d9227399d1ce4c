//! Pod volumes on the node: emptyDir (made with the pod, removed with it), hostPath (with its type
//! checks), configMap, secret and downwardAPI files, and the container mounts that point at them.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, KeyToPath, Pod, Volume};

use crate::env::{self, Allocatable, Placement};
use crate::runtime::Mount;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {volume}: {message}")]
    Invalid { volume: String, message: String },
    #[error("volume {volume}: {source}")]
    Io { volume: String, source: std::io::Error },
    #[error("volume {0} is not defined in the pod")]
    Undefined(String),
}

/// ConfigMap and Secret contents the pod's volumes refer to (`None`: not found).
#[derive(Clone, Debug, Default)]
pub struct VolumeSources {
    pub config_maps: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
    pub secrets: BTreeMap<String, Option<BTreeMap<String, Vec<u8>>>>,
}

/// The ConfigMaps and Secrets the pod's volumes need.
pub fn referenced(pod: &Pod) -> (Vec<String>, Vec<String>) {
    let mut cms = Vec::new();
    let mut secrets = Vec::new();
    for v in volumes(pod) {
        if let Some(c) = &v.config_map {
            cms.push(c.name.clone());
        }
        if let Some(s) = &v.secret {
            secrets.extend(s.secret_name.clone());
        }
        for src in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(c) = &src.config_map {
                cms.push(c.name.clone());
            }
            if let Some(s) = &src.secret {
                secrets.push(s.name.clone());
            }
        }
    }
    (cms, secrets)
}

fn volumes(pod: &Pod) -> &[Volume] {
    pod.spec.as_ref().and_then(|s| s.volumes.as_deref()).unwrap_or_default()
}

/// Where a pod's volumes live: `<pod dir>/volumes/<name>`.
pub fn volume_dir(pod_dir: &Path, name: &str) -> PathBuf {
    pod_dir.join("volumes").join(name)
}

/// Creates every volume of the pod under `pod_dir`; returns volume name → host path.
pub fn prepare(
    pod: &Pod,
    pod_dir: &Path,
    sources: &VolumeSources,
    placement: &Placement,
    allocatable: &Allocatable,
) -> Result<BTreeMap<String, PathBuf>, VolumeError> {
    let mut paths = BTreeMap::new();
    for v in volumes(pod) {
        let io = |source| VolumeError::Io { volume: v.name.clone(), source };
        let invalid = |message: String| VolumeError::Invalid { volume: v.name.clone(), message };
        let dir = volume_dir(pod_dir, &v.name);
        let path = if let Some(e) = &v.empty_dir {
            std::fs::create_dir_all(&dir).map_err(io)?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).map_err(io)?;
            if e.medium.as_deref() == Some("Memory") {
                mount_tmpfs(&dir).map_err(invalid)?;
            }
            dir
        } else if let Some(h) = &v.host_path {
            host_path(&h.path, h.type_.as_deref().unwrap_or("")).map_err(invalid)?;
            PathBuf::from(&h.path)
        } else if let Some(c) = &v.config_map {
            let mode = c.default_mode.unwrap_or(0o644);
            match sources.config_maps.get(&c.name).cloned().flatten() {
                Some(data) => write_files(&dir, &data, c.items.as_deref(), mode).map_err(invalid)?,
                None if c.optional == Some(true) => std::fs::create_dir_all(&dir).map_err(io)?,
                None => return Err(invalid(format!("configmap \"{}\" not found", c.name))),
            }
            dir
        } else if let Some(s) = &v.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            let mode = s.default_mode.unwrap_or(0o644);
            match sources.secrets.get(&name).cloned().flatten() {
                Some(data) => write_files(&dir, &data, s.items.as_deref(), mode).map_err(invalid)?,
                None if s.optional == Some(true) => std::fs::create_dir_all(&dir).map_err(io)?,
                None => return Err(invalid(format!("secret \"{name}\" not found"))),
            }
            dir
        } else if let Some(d) = &v.downward_api {
            let mode = d.default_mode.unwrap_or(0o644);
            let files = downward_files(pod, d.items.as_deref().unwrap_or_default(), placement, allocatable)
                .map_err(|e| invalid(e.to_string()))?;
            write_files(&dir, &files, None, mode).map_err(invalid)?;
            dir
        } else if let Some(p) = &v.projected {
            let mode = p.default_mode.unwrap_or(0o644);
            let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            for src in p.sources.iter().flatten() {
                if let Some(c) = &src.config_map {
                    if let Some(data) = sources.config_maps.get(&c.name).cloned().flatten() {
                        files.extend(select(&data, c.items.as_deref()));
                    } else if c.optional != Some(true) {
                        return Err(invalid(format!("configmap \"{}\" not found", c.name)));
                    }
                }
                if let Some(s) = &src.secret {
                    if let Some(data) = sources.secrets.get(&s.name).cloned().flatten() {
                        files.extend(select(&data, s.items.as_deref()));
                    } else if s.optional != Some(true) {
                        return Err(invalid(format!("secret \"{}\" not found", s.name)));
                    }
                }
                if let Some(d) = &src.downward_api {
                    let more = downward_files(pod, d.items.as_deref().unwrap_or_default(), placement, allocatable)
                        .map_err(|e| invalid(e.to_string()))?;
                    files.extend(more);
                }
                if let Some(t) = &src.service_account_token {
                    // No token issuer: an empty token file keeps paths valid.
                    files.insert(t.path.clone(), Vec::new());
                }
            }
            write_files(&dir, &files, None, mode).map_err(invalid)?;
            dir
        } else {
            return Err(invalid("this volume type is not supported by minik".into()));
        };
        paths.insert(v.name.clone(), path);
    }
    Ok(paths)
}

/// The files of a configMap/secret volume: every key, or just `items` (key → path, mode).
fn select(data: &BTreeMap<String, Vec<u8>>, items: Option<&[KeyToPath]>) -> BTreeMap<String, Vec<u8>> {
    match items {
        None => data.clone(),
        Some(items) => items.iter().filter_map(|i| Some((i.path.clone(), data.get(&i.key)?.clone()))).collect(),
    }
}

fn write_files(
    dir: &Path,
    data: &BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
    default_mode: i32,
) -> Result<(), String> {
    if let Some(items) = items {
        if let Some(missing) = items.iter().find(|i| !data.contains_key(&i.key)) {
            return Err(format!("key {} not found", missing.key));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let files = select(data, items);
    for (rel, content) in &files {
        if rel.starts_with('/') || rel.split('/').any(|p| p == "..") {
            return Err(format!("invalid path {rel}"));
        }
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        std::fs::write(&path, content).map_err(|e| e.to_string())?;
        let mode =
            items.and_then(|items| items.iter().find(|i| &i.path == rel).and_then(|i| i.mode)).unwrap_or(default_mode);
        let mode = u32::try_from(mode).unwrap_or(0o644) & 0o7777;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn downward_files(
    pod: &Pod,
    items: &[k8s_openapi::api::core::v1::DownwardAPIVolumeFile],
    placement: &Placement,
    allocatable: &Allocatable,
) -> Result<BTreeMap<String, Vec<u8>>, env::EnvError> {
    let mut files = BTreeMap::new();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            env::field_value(pod, &f.field_path, placement)?
        } else if let Some(r) = &item.resource_field_ref {
            let c = crate::plan::containers(pod)
                .iter()
                .chain(crate::plan::init_containers(pod))
                .find(|c| Some(c.name.as_str()) == r.container_name.as_deref())
                .or_else(|| crate::plan::containers(pod).first());
            match c {
                Some(c) => env::resource_value(c, &r.resource, r.divisor.as_ref().map(|d| d.0.as_str()), allocatable)?,
                None => String::new(),
            }
        } else {
            String::new()
        };
        files.insert(item.path.clone(), value.into_bytes());
    }
    Ok(files)
}

/// hostPath type checks (and the `…OrCreate` types' creation).
fn host_path(path: &str, type_: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path);
    let kind_err = |what: &str| Err(format!("hostPath type check failed: {path} is not a {what}"));
    match type_ {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => kind_err("directory"),
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| format!("cannot create {path}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => kind_err("file"),
            Err(_) => {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                std::fs::write(path, b"").map_err(|e| format!("cannot create {path}: {e}"))?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(|e| e.to_string())
            }
        },
        other => {
            let m = meta.map_err(|_| format!("hostPath type check failed: {path} does not exist"))?;
            let ft = m.file_type();
            let ok = match other {
                "Directory" => ft.is_dir(),
                "File" => ft.is_file(),
                "Socket" => ft.is_socket(),
                "CharDevice" => ft.is_char_device(),
                "BlockDevice" => ft.is_block_device(),
                _ => return Err(format!("unknown hostPath type {other}")),
            };
            if ok {
                Ok(())
            } else {
                kind_err(&other.to_lowercase())
            }
        }
    }
}

fn mount_tmpfs(dir: &Path) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("medium Memory needs root to mount a tmpfs".into());
    }
    nix::mount::mount(Some("tmpfs"), dir, Some("tmpfs"), nix::mount::MsFlags::empty(), None::<&str>)
        .map_err(|e| format!("cannot mount tmpfs on {}: {e}", dir.display()))
}

/// Unmounts tmpfs emptyDirs and removes the pod's volume directories.
pub fn remove(pod_dir: &Path) {
    let vols = pod_dir.join("volumes");
    if let Ok(entries) = std::fs::read_dir(&vols) {
        for e in entries.flatten() {
            let _ = nix::mount::umount2(&e.path(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
    let _ = std::fs::remove_dir_all(pod_dir);
}

/// The container's mounts: volume paths (with subPath) at their mountPath.
pub fn mounts(c: &Container, paths: &BTreeMap<String, PathBuf>) -> Result<Vec<Mount>, VolumeError> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let base = paths.get(&m.name).ok_or_else(|| VolumeError::Undefined(m.name.clone()))?;
        let mut host_path = base.clone();
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                return Err(VolumeError::Invalid { volume: m.name.clone(), message: format!("invalid subPath {sub}") });
            }
            host_path = base.join(sub);
            if !host_path.exists() {
                std::fs::create_dir_all(&host_path)
                    .map_err(|source| VolumeError::Io { volume: m.name.clone(), source })?;
            }
        }
        out.push(Mount { host_path, container_path: m.mount_path.clone(), read_only: m.read_only.unwrap_or(false) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(volumes: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}},
                     "volumeMounts": [{"name": "cache", "mountPath": "/cache"}, {"name": "cfg", "mountPath": "/etc/cfg", "readOnly": true, "subPath": "sub"}]}],
                     "volumes": volumes}
        }))
        .unwrap()
    }

    #[test]
    fn prepares_every_kind() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        let p = pod(json!([
            {"name": "cache", "emptyDir": {}},
            {"name": "cfg", "configMap": {"name": "cm", "items": [{"key": "a", "path": "sub/a.txt", "mode": 0o600}]}},
            {"name": "sec", "secret": {"secretName": "s", "defaultMode": 0o400}},
            {"name": "opt", "secret": {"secretName": "nope", "optional": true}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}
            ]}},
            {"name": "hp", "hostPath": {"path": host.display().to_string(), "type": "DirectoryOrCreate"}}
        ]));
        let mut sources = VolumeSources::default();
        sources.config_maps.insert("cm".into(), Some([("a".to_string(), b"A".to_vec())].into()));
        sources.secrets.insert("s".into(), Some([("pw".to_string(), b"hunter2".to_vec())].into()));
        sources.secrets.insert("nope".into(), None);
        let dir = tmp.path().join("pod");
        let paths = prepare(&p, &dir, &sources, &Placement::default(), &Allocatable::default()).unwrap();
        assert!(paths["cache"].is_dir());
        let a = paths["cfg"].join("sub/a.txt");
        assert_eq!(std::fs::read_to_string(&a).unwrap(), "A");
        assert_eq!(std::fs::metadata(&a).unwrap().permissions().mode() & 0o777, 0o600);
        let pw = paths["sec"].join("pw");
        assert_eq!(std::fs::read_to_string(&pw).unwrap(), "hunter2");
        assert_eq!(std::fs::metadata(&pw).unwrap().permissions().mode() & 0o777, 0o400);
        assert_eq!(std::fs::read_to_string(paths["info"].join("name")).unwrap(), "p");
        assert_eq!(std::fs::read_to_string(paths["info"].join("labels")).unwrap(), "a=\"b\"");
        assert_eq!(std::fs::read_to_string(paths["info"].join("mem")).unwrap(), "64");
        assert!(host.is_dir());

        let ms = mounts(&p.spec.as_ref().unwrap().containers[0], &paths).unwrap();
        assert_eq!(ms[0].container_path, "/cache");
        assert_eq!(ms[1].host_path, paths["cfg"].join("sub"));
        assert!(ms[1].read_only);

        remove(&dir);
        assert!(!dir.exists());
    }

    #[test]
    fn missing_sources_and_bad_host_paths_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let p = pod(json!([{"name": "cfg", "configMap": {"name": "cm"}}]));
        let err = prepare(&p, tmp.path(), &VolumeSources::default(), &Placement::default(), &Allocatable::default());
        assert_eq!(err.unwrap_err().to_string(), "volume cfg: configmap \"cm\" not found");
        let p = pod(json!([{"name": "hp", "hostPath": {"path": "/definitely/not/here", "type": "Directory"}}]));
        let err = prepare(&p, tmp.path(), &VolumeSources::default(), &Placement::default(), &Allocatable::default());
        assert!(err.unwrap_err().to_string().contains("does not exist"));
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let p = pod(json!([{"name": "hp", "hostPath": {"path": file.display().to_string(), "type": "Directory"}}]));
        let err = prepare(&p, tmp.path(), &VolumeSources::default(), &Placement::default(), &Allocatable::default());
        assert!(err.unwrap_err().to_string().contains("is not a directory"));
    }
}

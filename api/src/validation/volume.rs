//! Pod volumes and the mounts that use them: names, exactly one source per volume, the checks
//! each common source gets (hostPath, emptyDir, configMap, secret, downwardAPI), and mount paths.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::{KeyToPath, Volume, VolumeMount};

use super::container::validate_quantity;
use super::error::{FieldError, Path};
use super::names;

const FILE_MODE_ERROR: &str = "must be a number between 0 and 0777 (octal), both inclusive";

/// Volume names (DNS labels, unique), exactly one source each; returns the defined names.
pub(super) fn validate_volumes(volumes: &[Volume], path: &Path, errs: &mut Vec<FieldError>) -> HashSet<String> {
    let mut defined = HashSet::new();
    for (i, vol) in volumes.iter().enumerate() {
        let vpath = path.index(i);
        validate_volume_source(vol, &vpath, errs);
        let name_path = vpath.child("name");
        if vol.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            for msg in names::dns1123_label(&vol.name) {
                errs.push(FieldError::invalid(&name_path, &vol.name, msg));
            }
        }
        if !defined.insert(vol.name.clone()) {
            errs.push(FieldError::duplicate(&name_path, &vol.name));
        }
    }
    defined
}

fn validate_volume_source(vol: &Volume, path: &Path, errs: &mut Vec<FieldError>) {
    // In the order kube-apiserver checks them: the second source found is the one reported.
    let sources: [(&str, bool); 30] = [
        ("hostPath", vol.host_path.is_some()),
        ("emptyDir", vol.empty_dir.is_some()),
        ("gitRepo", vol.git_repo.is_some()),
        ("gcePersistentDisk", vol.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", vol.aws_elastic_block_store.is_some()),
        ("secret", vol.secret.is_some()),
        ("nfs", vol.nfs.is_some()),
        ("iscsi", vol.iscsi.is_some()),
        ("glusterfs", vol.glusterfs.is_some()),
        ("flocker", vol.flocker.is_some()),
        ("persistentVolumeClaim", vol.persistent_volume_claim.is_some()),
        ("rbd", vol.rbd.is_some()),
        ("flexVolume", vol.flex_volume.is_some()),
        ("cinder", vol.cinder.is_some()),
        ("cephfs", vol.cephfs.is_some()),
        ("downwardAPI", vol.downward_api.is_some()),
        ("fc", vol.fc.is_some()),
        ("azureFile", vol.azure_file.is_some()),
        ("configMap", vol.config_map.is_some()),
        ("vsphereVolume", vol.vsphere_volume.is_some()),
        ("quobyte", vol.quobyte.is_some()),
        ("azureDisk", vol.azure_disk.is_some()),
        ("photonPersistentDisk", vol.photon_persistent_disk.is_some()),
        ("portworxVolume", vol.portworx_volume.is_some()),
        ("projected", vol.projected.is_some()),
        ("scaleIO", vol.scale_io.is_some()),
        ("storageos", vol.storageos.is_some()),
        ("csi", vol.csi.is_some()),
        ("ephemeral", vol.ephemeral.is_some()),
        ("image", vol.image.is_some()),
    ];
    let mut found = 0;
    for (name, present) in sources {
        if !present {
            continue;
        }
        if found > 0 {
            errs.push(FieldError::forbidden(path.child(name), "may not specify more than 1 volume type"));
        }
        found += 1;
    }
    if found == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
        return;
    }
    if let Some(hp) = &vol.host_path {
        let p = path.child("hostPath");
        if hp.path.is_empty() {
            errs.push(FieldError::required(p.child("path"), ""));
        } else {
            no_backsteps(&hp.path, &p.child("path"), errs);
        }
        if let Some(t) = &hp.type_ {
            const TYPES: &[&str] =
                &["", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"];
            if !TYPES.contains(&t.as_str()) {
                errs.push(FieldError::not_supported(p.child("type"), t, TYPES));
            }
        }
    }
    if let Some(ed) = &vol.empty_dir {
        let p = path.child("emptyDir");
        if let Some(m) = ed.medium.as_deref() {
            const MEDIA: &[&str] = &["", "Memory", "HugePages"];
            if !MEDIA.contains(&m) && !m.starts_with("HugePages-") {
                errs.push(FieldError::not_supported(p.child("medium"), m, MEDIA));
            }
        }
        if let Some(q) = &ed.size_limit {
            validate_quantity(q, &p.child("sizeLimit"), errs);
        }
    }
    if let Some(cm) = &vol.config_map {
        let p = path.child("configMap");
        if cm.name.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        }
        file_mode(cm.default_mode, &p.child("defaultMode"), errs);
        key_items(cm.items.as_deref().unwrap_or_default(), &p.child("items"), errs);
    }
    if let Some(s) = &vol.secret {
        let p = path.child("secret");
        if s.secret_name.as_deref().unwrap_or("").is_empty() {
            errs.push(FieldError::required(p.child("secretName"), ""));
        }
        file_mode(s.default_mode, &p.child("defaultMode"), errs);
        key_items(s.items.as_deref().unwrap_or_default(), &p.child("items"), errs);
    }
    if let Some(d) = &vol.downward_api {
        let p = path.child("downwardAPI");
        file_mode(d.default_mode, &p.child("defaultMode"), errs);
        for (i, item) in d.items.iter().flatten().enumerate() {
            let ip = p.child("items").index(i);
            relative_path(&item.path, &ip.child("path"), errs);
            file_mode(item.mode, &ip.child("mode"), errs);
            match (&item.field_ref, &item.resource_field_ref) {
                (Some(_), Some(_)) => errs.push(FieldError::invalid(
                    &ip,
                    "resource",
                    "fieldRef and resourceFieldRef can not be specified simultaneously",
                )),
                (None, None) => {
                    errs.push(FieldError::required(&ip, "one of fieldRef and resourceFieldRef is required"))
                }
                _ => {}
            }
        }
    }
}

fn file_mode(mode: Option<i32>, path: &Path, errs: &mut Vec<FieldError>) {
    if let Some(m) = mode.filter(|m| !(0..=0o777).contains(m)) {
        errs.push(FieldError::invalid(path, m, FILE_MODE_ERROR));
    }
}

fn key_items(items: &[KeyToPath], path: &Path, errs: &mut Vec<FieldError>) {
    for (i, item) in items.iter().enumerate() {
        let ip = path.index(i);
        if item.key.is_empty() {
            errs.push(FieldError::required(ip.child("key"), ""));
        }
        relative_path(&item.path, &ip.child("path"), errs);
        file_mode(item.mode, &ip.child("mode"), errs);
    }
}

/// `validateLocalNonReservedPath`: required, relative, no `..` element, not starting with `..`.
fn relative_path(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if p.is_empty() {
        errs.push(FieldError::required(path, ""));
        return;
    }
    descending_path(p, path, errs);
    if p.starts_with("..") && !p.starts_with("../") {
        errs.push(FieldError::invalid(path, p, "must not start with '..'"));
    }
}

/// `validateLocalDescendingPath`: relative, no `..` element.
fn descending_path(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if p.starts_with('/') {
        errs.push(FieldError::invalid(path, p, "must be a relative path"));
    }
    no_backsteps(p, path, errs);
}

fn no_backsteps(p: &str, path: &Path, errs: &mut Vec<FieldError>) {
    if p.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, p, "must not contain '..'"));
    }
}

pub(super) fn validate_volume_mounts(
    mounts: &[VolumeMount],
    volumes: &HashSet<String>,
    path: &Path,
    errs: &mut Vec<FieldError>,
) {
    let mut mount_points = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let mp = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(mp.child("name"), ""));
        }
        if !volumes.contains(&m.name) {
            errs.push(FieldError::not_found(mp.child("name"), &m.name));
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(mp.child("mountPath"), ""));
        }
        if !mount_points.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(mp.child("mountPath"), &m.mount_path, "must be unique"));
        }
        // Kubernetes reports these two without the index.
        if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
            descending_path(sub, &path.child("subPath"), errs);
        }
        if let Some(expr) = m.sub_path_expr.as_deref().filter(|s| !s.is_empty()) {
            if m.sub_path.as_deref().is_some_and(|s| !s.is_empty()) {
                errs.push(FieldError::invalid(
                    mp.child("subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            descending_path(expr, &path.child("subPathExpr"), errs);
        }
        if let Some(prop) = &m.mount_propagation {
            const MODES: &[&str] = &["Bidirectional", "HostToContainer", "None"];
            if !MODES.contains(&prop.as_str()) {
                errs.push(FieldError::not_supported(mp.child("mountPropagation"), prop, MODES));
            }
        }
    }
}

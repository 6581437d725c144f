//! Pod rules (`ValidatePodSpec`, `ValidatePodTemplateSpec`, `ValidatePodCreate`,
//! `ValidatePodUpdate`): containers and init containers, ports, environment, volumes and
//! mounts, resources, probes, tolerations and pod-level enumerations. Workload kinds reuse
//! [`pod_template`] with their own path prefix.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::meta::{self, NEGATIVE_MSG};
use super::names::{self, inclusive_range_error};
use super::{arr_at, int_at, is_set, semantic, str_at, Errors, FieldError, Path, Raw};
use crate::quantity::Quantity;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
/// Sorted, as Kubernetes lists the members of a set.
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];
const FILE_MODE_MSG: &str = "must be a number between 0 and 0777 (octal), both inclusive";
const MAX_INT32: i64 = i32::MAX as i64;

/// Volume source fields in the order Kubernetes checks them, so "more than 1 volume type" is
/// reported on the same field.
const VOLUME_SOURCES: &[&str] = &[
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "flexVolume",
    "downwardAPI",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "configMap",
    "storageos",
    "csi",
    "ephemeral",
    "image",
];

/// The field each volume source cannot do without.
const REQUIRED_SOURCE_FIELDS: &[(&str, &str)] = &[
    ("secret", "secretName"),
    ("configMap", "name"),
    ("persistentVolumeClaim", "claimName"),
    ("csi", "driver"),
    ("image", "reference"),
];

/// Downward API fields that may feed an environment variable.
const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// Container resources a `resourceFieldRef` may name (besides `*.hugepages-*`).
const RESOURCE_FIELD_PATHS: &[&str] = &[
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// A Pod on create or update.
pub(crate) fn validate_pod(obj: &Value, old: Option<&Value>, errs: &mut Errors) {
    let spec = &obj["spec"];
    let path = Path::new("spec");
    pod_spec(spec, &path, errs);
    // Pods (not templates) may not carry images with surrounding whitespace: " " is a
    // placeholder some tools put in templates.
    for key in ["containers", "initContainers"] {
        for (i, c) in arr_at(spec, key).iter().enumerate() {
            let image = str_at(c, "image");
            if image.trim() != image {
                errs.push(FieldError::invalid(
                    &path.child(key).index(i).child("image"),
                    image,
                    "must not have leading or trailing whitespace",
                ));
            }
        }
    }
    match old {
        None => {
            if is_set(spec, "ephemeralContainers") {
                errs.push(FieldError::forbidden(
                    &path.child("ephemeralContainers"),
                    "cannot be set on create",
                ));
            }
        }
        Some(old) => pod_update(obj, old, errs),
    }
}

/// The `PodTemplate` kind: a bare template under `template`.
pub(crate) fn validate_pod_template_kind(obj: &Value, errs: &mut Errors) {
    pod_template(&obj["template"], &Path::new("template"), errs);
}

/// `ValidatePodTemplateSpec`. Note that Kubernetes reports template label errors at
/// `<path>.labels`, not `<path>.metadata.labels`.
pub(crate) fn pod_template(template: &Value, path: &Path, errs: &mut Errors) {
    pod_template_with_claims(template, path, &[], errs);
}

/// [`pod_template`] for a StatefulSet, whose containers may also mount the volumes its
/// `volumeClaimTemplates` create.
pub(crate) fn pod_template_with_claims(
    template: &Value,
    path: &Path,
    claims: &[&str],
    errs: &mut Errors,
) {
    meta::labels(&template["metadata"]["labels"], &path.child("labels"), errs);
    meta::annotations(
        &template["metadata"]["annotations"],
        &path.child("annotations"),
        errs,
    );
    let spec = &template["spec"];
    pod_spec_with_claims(spec, &path.child("spec"), claims, errs);
    if is_set(spec, "ephemeralContainers") {
        errs.push(FieldError::forbidden(
            &path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
}

/// The restart policy a pod spec ends up with once defaulted.
pub(crate) fn effective_restart_policy(spec: &Value) -> &str {
    match str_at(spec, "restartPolicy") {
        "" => "Always",
        p => p,
    }
}

/// `ValidatePodSpec`.
pub(crate) fn pod_spec(spec: &Value, path: &Path, errs: &mut Errors) {
    pod_spec_with_claims(spec, path, &[], errs);
}

fn pod_spec_with_claims(spec: &Value, path: &Path, claims: &[&str], errs: &mut Errors) {
    let mut volumes = volumes(arr_at(spec, "volumes"), &path.child("volumes"), errs);
    volumes.extend(claims.iter().copied());
    let containers = arr_at(spec, "containers");
    let cpath = path.child("containers");
    if containers.is_empty() {
        errs.push(FieldError::required(&cpath, ""));
    }
    let mut all_names: HashSet<&str> = HashSet::new();
    for (i, c) in containers.iter().enumerate() {
        let p = cpath.index(i);
        container_common(c, &volumes, &p, errs);
        let name = str_at(c, "name");
        if !all_names.insert(name) {
            errs.push(FieldError::duplicate(&p.child("name"), name));
        }
        if c.get("restartPolicy").is_some_and(|v| !v.is_null()) {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
        probes(c, &p, errs);
    }
    let ipath = path.child("initContainers");
    for (i, c) in arr_at(spec, "initContainers").iter().enumerate() {
        let p = ipath.index(i);
        container_common(c, &volumes, &p, errs);
        let restartable = match &c["restartPolicy"] {
            Value::Null => false,
            Value::String(s) if s == "Always" => true,
            other => {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    other,
                    &["Always"],
                ));
                false
            }
        };
        // Init container names share one namespace with the regular containers.
        let name = str_at(c, "name");
        if all_names.contains(name) {
            errs.push(FieldError::duplicate(&p.child("name"), name));
        } else if !name.is_empty() {
            all_names.insert(name);
        }
        if restartable {
            probes(c, &p, errs);
        } else {
            for field in [
                "lifecycle",
                "livenessProbe",
                "readinessProbe",
                "startupProbe",
            ] {
                if !c[field].is_null() {
                    errs.push(FieldError::forbidden(
                        &p.child(field),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
    host_network_ports(spec, path, errs);
    enumeration(
        effective_restart_policy(spec),
        &path.child("restartPolicy"),
        RESTART_POLICIES,
        errs,
    );
    let dns_policy = match str_at(spec, "dnsPolicy") {
        "" => "ClusterFirst",
        p => p,
    };
    enumeration(dns_policy, &path.child("dnsPolicy"), DNS_POLICIES, errs);
    meta::labels(&spec["nodeSelector"], &path.child("nodeSelector"), errs);
    pod_security_context(
        &spec["securityContext"],
        &path.child("securityContext"),
        errs,
    );
    dns_config(spec, dns_policy, &path.child("dnsConfig"), errs);
    let sa = str_at(spec, "serviceAccountName");
    if !sa.is_empty() {
        for msg in names::dns1123_subdomain(sa) {
            errs.push(FieldError::invalid(
                &path.child("serviceAccountName"),
                sa,
                &msg,
            ));
        }
    }
    let node = str_at(spec, "nodeName");
    if !node.is_empty() {
        for msg in names::dns1123_subdomain(node) {
            errs.push(FieldError::invalid(&path.child("nodeName"), node, &msg));
        }
    }
    if let Some(v) = int_at(spec, "activeDeadlineSeconds") {
        if !(1..=MAX_INT32).contains(&v) {
            errs.push(FieldError::invalid(
                &path.child("activeDeadlineSeconds"),
                v,
                &inclusive_range_error(1, MAX_INT32),
            ));
        }
    }
    for field in ["hostname", "subdomain"] {
        let v = str_at(spec, field);
        if !v.is_empty() {
            for msg in names::dns1123_label(v) {
                errs.push(FieldError::invalid(&path.child(field), v, &msg));
            }
        }
    }
    tolerations(
        arr_at(spec, "tolerations"),
        &path.child("tolerations"),
        errs,
    );
    let pc = str_at(spec, "priorityClassName");
    if !pc.is_empty() {
        for msg in names::dns1123_subdomain(pc) {
            errs.push(FieldError::invalid(
                &path.child("priorityClassName"),
                pc,
                &msg,
            ));
        }
    }
    for (i, gate) in arr_at(spec, "schedulingGates").iter().enumerate() {
        let name = str_at(gate, "name");
        for msg in names::qualified_name(name) {
            errs.push(FieldError::invalid(
                &path.child("schedulingGates").index(i).child("name"),
                name,
                &msg,
            ));
        }
    }
}

/// Required when empty, NotSupported when not one of `valid`.
fn enumeration(value: &str, path: &Path, valid: &[&str], errs: &mut Errors) {
    if value.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else if !valid.contains(&value) {
        errs.push(FieldError::not_supported(path, value, valid));
    }
}

/// `ValidateVolumes`: returns the names of the valid volumes, which mounts may refer to.
fn volumes<'a>(list: &'a [Value], path: &Path, errs: &mut Errors) -> HashSet<&'a str> {
    let mut names_seen: HashSet<&str> = HashSet::new();
    for (i, vol) in list.iter().enumerate() {
        let p = path.index(i);
        let mut el = Errors::new();
        volume_source(vol, &p, &mut el);
        let name = str_at(vol, "name");
        if name.is_empty() {
            el.push(FieldError::required(&p.child("name"), ""));
        } else {
            for msg in names::dns1123_label(name) {
                el.push(FieldError::invalid(&p.child("name"), name, &msg));
            }
        }
        if names_seen.contains(name) {
            el.push(FieldError::duplicate(&p.child("name"), name));
        }
        // Only a valid volume can be mounted; mounts of invalid ones are reported too.
        if el.is_empty() {
            names_seen.insert(name);
        } else {
            errs.append(&mut el);
        }
    }
    names_seen
}

fn volume_source(vol: &Value, path: &Path, errs: &mut Errors) {
    let Some(map) = vol.as_object() else {
        errs.push(FieldError::required(path, "must specify a volume type"));
        return;
    };
    let mut count = 0;
    let known = VOLUME_SOURCES
        .iter()
        .copied()
        .filter(|k| map.get(*k).is_some_and(|v| !v.is_null()));
    // Sources this table does not know (newer API fields) still count as a type.
    let unknown = map
        .iter()
        .filter(|(k, v)| {
            k.as_str() != "name" && !v.is_null() && !VOLUME_SOURCES.contains(&k.as_str())
        })
        .map(|(k, _)| k.as_str());
    for key in known.chain(unknown) {
        let p = path.child(key);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 volume type",
            ));
            continue;
        }
        count += 1;
        let src = &map[key];
        if let Some((_, field)) = REQUIRED_SOURCE_FIELDS.iter().find(|(k, _)| *k == key) {
            if str_at(src, field).is_empty() {
                errs.push(FieldError::required(&p.child(field), ""));
            }
        }
        match key {
            "emptyDir" => {
                if let Some(Ok(q)) = src.get("sizeLimit").map(Quantity::from_json) {
                    if q.as_nanos() < 0 {
                        errs.push(FieldError::forbidden(
                            &p.child("sizeLimit"),
                            "SizeLimit field must be a valid resource quantity",
                        ));
                    }
                }
            }
            "hostPath" => {
                let hp = str_at(src, "path");
                if hp.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else {
                    no_backsteps(hp, &p.child("path"), errs);
                }
                let t = str_at(src, "type");
                const TYPES: &[&str] = &[
                    "",
                    "DirectoryOrCreate",
                    "Directory",
                    "FileOrCreate",
                    "File",
                    "Socket",
                    "CharDevice",
                    "BlockDevice",
                ];
                if !TYPES.contains(&t) {
                    errs.push(FieldError::not_supported(&p.child("type"), t, TYPES));
                }
            }
            "secret" | "configMap" => projection_items(src, &p, errs),
            "downwardAPI" | "projected" => {
                file_mode(&src["defaultMode"], &p.child("defaultMode"), errs)
            }
            "nfs" => {
                if str_at(src, "server").is_empty() {
                    errs.push(FieldError::required(&p.child("server"), ""));
                }
                let np = str_at(src, "path");
                if np.is_empty() {
                    errs.push(FieldError::required(&p.child("path"), ""));
                } else if !np.starts_with('/') {
                    errs.push(FieldError::invalid(
                        &p.child("path"),
                        np,
                        "must be an absolute path",
                    ));
                }
            }
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a volume type"));
    }
}

/// `defaultMode` and `items` of a secret or configMap volume.
fn projection_items(src: &Value, path: &Path, errs: &mut Errors) {
    file_mode(&src["defaultMode"], &path.child("defaultMode"), errs);
    for (i, item) in arr_at(src, "items").iter().enumerate() {
        let p = path.child("items").index(i);
        if str_at(item, "key").is_empty() {
            errs.push(FieldError::required(&p.child("key"), ""));
        }
        let target = str_at(item, "path");
        if target.is_empty() {
            errs.push(FieldError::required(&p.child("path"), ""));
        }
        local_non_reserved_path(target, &p.child("path"), errs);
        file_mode(&item["mode"], &p.child("mode"), errs);
    }
}

fn file_mode(mode: &Value, path: &Path, errs: &mut Errors) {
    if let Some(m) = mode.as_i64() {
        if !(0..=0o777).contains(&m) {
            errs.push(FieldError::invalid(path, m, FILE_MODE_MSG));
        }
    }
}

fn no_backsteps(target: &str, path: &Path, errs: &mut Errors) {
    if target.split('/').any(|part| part == "..") {
        errs.push(FieldError::invalid(path, target, "must not contain '..'"));
    }
}

/// `validateLocalDescendingPath`: relative and without `..` elements.
fn local_descending_path(target: &str, path: &Path, errs: &mut Errors) {
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    no_backsteps(target, path, errs);
}

fn local_non_reserved_path(target: &str, path: &Path, errs: &mut Errors) {
    local_descending_path(target, path, errs);
    // A `..data`-style name would collide with the atomic-writer's own files.
    if target.starts_with("..") && !target.starts_with("../") {
        errs.push(FieldError::invalid(
            path,
            target,
            "must not start with '..'",
        ));
    }
}

/// Rules common to regular, init and ephemeral containers (`validateContainerCommon`).
fn container_common(c: &Value, volumes: &HashSet<&str>, path: &Path, errs: &mut Errors) {
    let name = str_at(c, "name");
    if name.is_empty() {
        errs.push(FieldError::required(&path.child("name"), ""));
    } else {
        for msg in names::dns1123_label(name) {
            errs.push(FieldError::invalid(&path.child("name"), name, &msg));
        }
    }
    if str_at(c, "image").is_empty() {
        errs.push(FieldError::required(&path.child("image"), ""));
    }
    let tmp = match str_at(c, "terminationMessagePolicy") {
        "" => "File",
        p => p,
    };
    enumeration(
        tmp,
        &path.child("terminationMessagePolicy"),
        TERMINATION_MESSAGE_POLICIES,
        errs,
    );
    container_ports(arr_at(c, "ports"), &path.child("ports"), errs);
    env(arr_at(c, "env"), &path.child("env"), errs);
    env_from(arr_at(c, "envFrom"), &path.child("envFrom"), errs);
    volume_mounts(
        arr_at(c, "volumeMounts"),
        volumes,
        &path.child("volumeMounts"),
        errs,
    );
    let pull = str_at(c, "imagePullPolicy");
    // An empty policy is defaulted from the image tag, so only a wrong value is an error.
    if !pull.is_empty() && !PULL_POLICIES.contains(&pull) {
        errs.push(FieldError::not_supported(
            &path.child("imagePullPolicy"),
            pull,
            PULL_POLICIES,
        ));
    }
    resources(&c["resources"], &path.child("resources"), errs);
    container_security_context(&c["securityContext"], &path.child("securityContext"), errs);
}

fn container_ports(ports: &[Value], path: &Path, errs: &mut Errors) {
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(port, "name");
        if !name.is_empty() {
            let msgs = names::port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid(&p.child("name"), name, &msg));
                }
            } else if !seen.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
        }
        let cp = int_at(port, "containerPort").unwrap_or(0);
        if cp == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            for msg in names::port_num(cp) {
                errs.push(FieldError::invalid(&p.child("containerPort"), cp, &msg));
            }
        }
        let hp = int_at(port, "hostPort").unwrap_or(0);
        if hp != 0 {
            for msg in names::port_num(hp) {
                errs.push(FieldError::invalid(&p.child("hostPort"), hp, &msg));
            }
        }
        protocol(str_at(port, "protocol"), &p.child("protocol"), errs);
    }
}

/// A port protocol; empty means the TCP default.
pub(crate) fn protocol(value: &str, path: &Path, errs: &mut Errors) {
    if !value.is_empty() && !PROTOCOLS.contains(&value) {
        errs.push(FieldError::not_supported(path, value, PROTOCOLS));
    }
}

/// With host networking the container port *is* the host port.
fn host_network_ports(spec: &Value, path: &Path, errs: &mut Errors) {
    if spec["hostNetwork"].as_bool() != Some(true) {
        return;
    }
    for (i, c) in arr_at(spec, "containers").iter().enumerate() {
        for (j, port) in arr_at(c, "ports").iter().enumerate() {
            let cp = int_at(port, "containerPort").unwrap_or(0);
            let hp = int_at(port, "hostPort").unwrap_or(0);
            // hostPort 0 is defaulted to the container port.
            if hp != 0 && hp != cp {
                errs.push(FieldError::invalid(
                    &path
                        .child("containers")
                        .index(i)
                        .child("ports")
                        .index(j)
                        .child("containerPort"),
                    cp,
                    "must match `hostPort` when `hostNetwork` is true",
                ));
            }
        }
    }
}

fn env(vars: &[Value], path: &Path, errs: &mut Errors) {
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(ev, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        for msg in names::relaxed_env_var_name(name) {
            errs.push(FieldError::invalid(&p.child("name"), name, &msg));
        }
        let from = &ev["valueFrom"];
        if from.is_null() {
            continue;
        }
        let fp = p.child("valueFrom");
        let mut sources = 0;
        if !from["fieldRef"].is_null() {
            sources += 1;
            field_ref(&from["fieldRef"], &fp.child("fieldRef"), errs);
        }
        if !from["resourceFieldRef"].is_null() {
            sources += 1;
            let rp = fp.child("resourceFieldRef");
            let resource = str_at(&from["resourceFieldRef"], "resource");
            if resource.is_empty() {
                errs.push(FieldError::required(&rp.child("resource"), ""));
            } else if !RESOURCE_FIELD_PATHS.contains(&resource)
                && !resource.starts_with("limits.hugepages-")
                && !resource.starts_with("requests.hugepages-")
            {
                errs.push(FieldError::not_supported(
                    &rp.child("resource"),
                    resource,
                    RESOURCE_FIELD_PATHS,
                ));
            }
        }
        for key in ["configMapKeyRef", "secretKeyRef"] {
            let sel = &from[key];
            if sel.is_null() {
                continue;
            }
            sources += 1;
            let sp = fp.child(key);
            let n = str_at(sel, "name");
            for msg in names::dns1123_subdomain(n) {
                errs.push(FieldError::invalid(&sp.child("name"), n, &msg));
            }
            let k = str_at(sel, "key");
            if k.is_empty() {
                errs.push(FieldError::required(&sp.child("key"), ""));
            } else {
                for msg in names::config_map_key(k) {
                    errs.push(FieldError::invalid(&sp.child("key"), k, &msg));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or \
                 `secretKeyRef`",
            ));
        } else if !str_at(ev, "value").is_empty() {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not be specified when `value` is not empty",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                &fp,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

/// A downward API `fieldRef` feeding an environment variable.
fn field_ref(fr: &Value, path: &Path, errs: &mut Errors) {
    let fp = str_at(fr, "fieldPath");
    if fp.is_empty() {
        errs.push(FieldError::required(&path.child("fieldPath"), ""));
        return;
    }
    // `metadata.labels['key']` and `metadata.annotations['key']` select one entry.
    for prefix in ["metadata.labels['", "metadata.annotations['"] {
        if let Some(key) = fp.strip_prefix(prefix).and_then(|r| r.strip_suffix("']")) {
            for msg in names::qualified_name(key) {
                errs.push(FieldError::invalid(&path.child("fieldPath"), key, &msg));
            }
            return;
        }
    }
    if !ENV_FIELD_PATHS.contains(&fp) {
        errs.push(FieldError::not_supported(
            &path.child("fieldPath"),
            fp,
            ENV_FIELD_PATHS,
        ));
    }
}

fn env_from(list: &[Value], path: &Path, errs: &mut Errors) {
    for (i, ev) in list.iter().enumerate() {
        let p = path.index(i);
        let prefix = str_at(ev, "prefix");
        if !prefix.is_empty() {
            for msg in names::relaxed_env_var_name(prefix) {
                errs.push(FieldError::invalid(&p.child("prefix"), prefix, &msg));
            }
        }
        let mut sources = 0;
        for key in ["configMapRef", "secretRef"] {
            let r = &ev[key];
            if r.is_null() {
                continue;
            }
            sources += 1;
            let n = str_at(r, "name");
            if n.is_empty() {
                errs.push(FieldError::required(&p.child(key).child("name"), ""));
            } else {
                for msg in names::NameRule::Subdomain.check(n, true) {
                    errs.push(FieldError::invalid(&p.child(key).child("name"), n, &msg));
                }
            }
        }
        if sources == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if sources > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
}

fn volume_mounts(mounts: &[Value], volumes: &HashSet<&str>, path: &Path, errs: &mut Errors) {
    let mut points: HashSet<&str> = HashSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        let name = str_at(m, "name");
        if name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        if !volumes.contains(name) {
            errs.push(FieldError::not_found(&p.child("name"), name));
        }
        let mount_path = str_at(m, "mountPath");
        if mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !points.insert(mount_path) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                mount_path,
                "must be unique",
            ));
        }
        let sub = str_at(m, "subPath");
        if !sub.is_empty() {
            // Kubernetes reports subPath problems on the list, not the entry; kept as is.
            local_descending_path(sub, &path.child("subPath"), errs);
        }
        let expr = str_at(m, "subPathExpr");
        if !expr.is_empty() {
            if !sub.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            local_descending_path(expr, &path.child("subPathExpr"), errs);
        }
        let prop = str_at(m, "mountPropagation");
        const PROPAGATION: &[&str] = &["None", "HostToContainer", "Bidirectional"];
        if !prop.is_empty() && !PROPAGATION.contains(&prop) {
            errs.push(FieldError::not_supported(
                &path.child("mountPropagation"),
                prop,
                PROPAGATION,
            ));
        }
    }
}

/// Native resources (no domain, or a `kubernetes.io` domain) may be overcommitted, except
/// huge pages; extended resources may not.
fn overcommit_allowed(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    native && !name.starts_with("hugepages-")
}

fn is_extended_resource(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    !native
        && !name.starts_with("requests.")
        && names::qualified_name(&format!("requests.{name}")).is_empty()
}

fn container_resource_name(name: &str, path: &Path, errs: &mut Errors) {
    for msg in names::qualified_name(name) {
        errs.push(FieldError::invalid(path, name, &msg));
    }
    if !name.contains('/') {
        let standard = matches!(name, "cpu" | "memory" | "ephemeral-storage")
            || name.starts_with("hugepages-");
        if !standard {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !name.contains("kubernetes.io/") && !is_extended_resource(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
}

/// A resource quantity: parseable, not negative, whole for extended resources.
fn resource_quantity(name: &str, v: &Value, path: &Path, errs: &mut Errors) -> Option<Quantity> {
    let q = match Quantity::from_json(v) {
        Ok(q) => q,
        Err(e) => {
            errs.push(FieldError::invalid(path, v, &e.to_string()));
            return None;
        }
    };
    if q.as_nanos() < 0 {
        errs.push(FieldError::invalid(path, q.to_string(), NEGATIVE_MSG));
    }
    if is_extended_resource(name) && q.as_nanos() % 1_000_000_000 != 0 {
        errs.push(FieldError::invalid(
            path,
            q.to_string(),
            "must be an integer",
        ));
    }
    Some(q)
}

/// `ValidateResourceRequirements` for a container: names, quantities, and requests ≤ limits
/// (equal for resources that cannot be overcommitted).
pub(crate) fn resources(res: &Value, path: &Path, errs: &mut Errors) {
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let empty = Map::new();
    let limits = res["limits"].as_object().unwrap_or(&empty);
    let requests = res["requests"].as_object().unwrap_or(&empty);
    let mut parsed_limits: Vec<(&str, Quantity)> = Vec::new();
    for (name, v) in limits {
        let p = lim_path.key(name);
        container_resource_name(name, &p, errs);
        if let Some(q) = resource_quantity(name, v, &p, errs) {
            parsed_limits.push((name, q));
        }
    }
    for (name, v) in requests {
        let p = req_path.key(name);
        container_resource_name(name, &p, errs);
        let Some(q) = resource_quantity(name, v, &p, errs) else {
            continue;
        };
        match parsed_limits.iter().find(|(n, _)| n == name) {
            Some((_, limit)) => {
                if q != *limit && !overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        &format!("must be equal to {name} limit of {limit}"),
                    ));
                } else if q > *limit {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.to_string(),
                        &format!("must be less than or equal to {name} limit of {limit}"),
                    ));
                }
            }
            None if !overcommit_allowed(name) && !limits.contains_key(name) => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
    }
}

/// Liveness, readiness and startup probes and lifecycle hooks of a container.
fn probes(c: &Value, path: &Path, errs: &mut Errors) {
    for (name, must_be_one) in [
        ("livenessProbe", true),
        ("readinessProbe", false),
        ("startupProbe", true),
    ] {
        let probe = &c[name];
        if probe.is_null() {
            continue;
        }
        let p = path.child(name);
        handler(probe, &p, errs);
        for field in [
            "initialDelaySeconds",
            "timeoutSeconds",
            "periodSeconds",
            "successThreshold",
            "failureThreshold",
        ] {
            meta::nonnegative(int_at(probe, field), &p.child(field), errs);
        }
        if let Some(t) = int_at(probe, "terminationGracePeriodSeconds") {
            if name == "readinessProbe" {
                errs.push(FieldError::invalid(
                    &p.child("terminationGracePeriodSeconds"),
                    t,
                    "must not be set for readinessProbes",
                ));
            } else if t <= 0 {
                errs.push(FieldError::invalid(
                    &p.child("terminationGracePeriodSeconds"),
                    t,
                    "must be greater than 0",
                ));
            }
        }
        // Liveness and startup are pass/fail per check: one success is all there can be.
        if must_be_one {
            if let Some(s) = int_at(probe, "successThreshold") {
                if s != 1 {
                    errs.push(FieldError::invalid(
                        &p.child("successThreshold"),
                        s,
                        "must be 1",
                    ));
                }
            }
        }
    }
    let lifecycle = &c["lifecycle"];
    for hook in ["postStart", "preStop"] {
        if !lifecycle[hook].is_null() {
            handler(&lifecycle[hook], &path.child("lifecycle").child(hook), errs);
        }
    }
}

/// Exactly one of exec, httpGet, tcpSocket, grpc or sleep.
fn handler(h: &Value, path: &Path, errs: &mut Errors) {
    let mut count = 0;
    for kind in ["exec", "httpGet", "tcpSocket", "grpc", "sleep"] {
        let action = &h[kind];
        if action.is_null() {
            continue;
        }
        let p = path.child(kind);
        if count > 0 {
            errs.push(FieldError::forbidden(
                &p,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match kind {
            "exec" if arr_at(action, "command").is_empty() => {
                errs.push(FieldError::required(&p.child("command"), ""));
            }
            "httpGet" => {
                port_num_or_name(&action["port"], &p.child("port"), errs);
                let scheme = str_at(action, "scheme");
                if !scheme.is_empty() && scheme != "HTTP" && scheme != "HTTPS" {
                    errs.push(FieldError::not_supported(
                        &p.child("scheme"),
                        scheme,
                        &["HTTP", "HTTPS"],
                    ));
                }
            }
            "tcpSocket" | "grpc" => port_num_or_name(&action["port"], &p.child("port"), errs),
            _ => {}
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

/// `ValidatePortNumOrName` over an IntOrString.
pub(crate) fn port_num_or_name(port: &Value, path: &Path, errs: &mut Errors) {
    match port {
        Value::String(s) => {
            for msg in names::port_name(s) {
                errs.push(FieldError::invalid(path, s.as_str(), &msg));
            }
        }
        other => {
            let n = other.as_i64().unwrap_or(0);
            for msg in names::port_num(n) {
                errs.push(FieldError::invalid(path, n, &msg));
            }
        }
    }
}

fn id_range(v: &Value, key: &str, path: &Path, errs: &mut Errors) {
    if let Some(id) = int_at(v, key) {
        if !(0..=MAX_INT32).contains(&id) {
            errs.push(FieldError::invalid(
                &path.child(key),
                id,
                &inclusive_range_error(0, MAX_INT32),
            ));
        }
    }
}

fn pod_security_context(sc: &Value, path: &Path, errs: &mut Errors) {
    for key in ["runAsUser", "runAsGroup", "fsGroup"] {
        id_range(sc, key, path, errs);
    }
    for (i, g) in arr_at(sc, "supplementalGroups").iter().enumerate() {
        if let Some(id) = g.as_i64() {
            if !(0..=MAX_INT32).contains(&id) {
                errs.push(FieldError::invalid(
                    &path.child("supplementalGroups").index(i),
                    id,
                    &inclusive_range_error(0, MAX_INT32),
                ));
            }
        }
    }
}

fn container_security_context(sc: &Value, path: &Path, errs: &mut Errors) {
    for key in ["runAsUser", "runAsGroup"] {
        id_range(sc, key, path, errs);
    }
    if sc["privileged"].as_bool() == Some(true)
        && sc["allowPrivilegeEscalation"].as_bool() == Some(false)
    {
        errs.push(FieldError::invalid(
            path,
            Raw(sc.to_string()),
            "cannot set `allowPrivilegeEscalation` to false and `privileged` to true",
        ));
    }
}

fn dns_config(spec: &Value, dns_policy: &str, path: &Path, errs: &mut Errors) {
    let cfg = &spec["dnsConfig"];
    if dns_policy == "None" {
        if cfg.is_null() {
            errs.push(FieldError::required(
                path,
                "must provide `dnsConfig` when `dnsPolicy` is None",
            ));
            return;
        }
        if arr_at(cfg, "nameservers").is_empty() {
            errs.push(FieldError::required(
                &path.child("nameservers"),
                "must provide at least one DNS nameserver when `dnsPolicy` is None",
            ));
            return;
        }
    }
    let servers = arr_at(cfg, "nameservers");
    if servers.len() > 3 {
        errs.push(FieldError::invalid(
            &path.child("nameservers"),
            Raw(names::go_string_slice(Some(servers))),
            "must not have more than 3 nameservers",
        ));
    }
    let searches = arr_at(cfg, "searches");
    if searches.len() > 32 {
        errs.push(FieldError::invalid(
            &path.child("searches"),
            Raw(names::go_string_slice(Some(searches))),
            "must not have more than 32 search paths",
        ));
    }
}

/// `ValidateTolerations`.
fn tolerations(list: &[Value], path: &Path, errs: &mut Errors) {
    for (i, t) in list.iter().enumerate() {
        let p = path.index(i);
        let key = str_at(t, "key");
        let op = str_at(t, "operator");
        let effect = str_at(t, "effect");
        if !key.is_empty() {
            meta::label_name(key, &p.child("key"), errs);
        }
        // An empty key with Exists matches every taint; with Equal it would match nothing.
        if key.is_empty() && op != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values \
                 and all keys\"",
            ));
        }
        if !t["tolerationSeconds"].is_null() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        let value = str_at(t, "value");
        match op {
            "Equal" | "" => {
                let msgs = names::label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        &msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        Raw(t.to_string()),
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                TAINT_EFFECTS,
            ));
        }
    }
}

/// Pod taint effects, shared with Node taints.
pub(crate) fn taint_effect(effect: &str, path: &Path, errs: &mut Errors) {
    if effect.is_empty() {
        errs.push(FieldError::required(path, ""));
    } else if !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(path, effect, TAINT_EFFECTS));
    }
}

const POD_UPDATE_MSG: &str = "pod updates may not change fields other than \
     `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,\
     `spec.tolerations` (only additions to existing tolerations),\
     `spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate`: a running pod's spec is fixed except for images, a shrinking
/// `activeDeadlineSeconds`, added tolerations and removed scheduling gates.
fn pod_update(new: &Value, old: &Value, errs: &mut Errors) {
    let path = Path::new("spec");
    // Compare defaulted specs, so a client that omits defaulted fields is not flagged.
    let mut new_pod = new.clone();
    let mut old_pod = old.clone();
    crate::defaults::on_object(&mut new_pod, crate::defaults::pod);
    crate::defaults::on_object(&mut old_pod, crate::defaults::pod);
    let (new_spec, old_spec) = (&new_pod["spec"], &old_pod["spec"]);

    for key in ["containers", "initContainers"] {
        if arr_at(new_spec, key).len() != arr_at(old_spec, key).len() {
            errs.push(FieldError::forbidden(
                &path.child(key),
                "pod updates may not add or remove containers",
            ));
            return;
        }
    }

    let ads = path.child("activeDeadlineSeconds");
    match (
        int_at(new_spec, "activeDeadlineSeconds"),
        int_at(old_spec, "activeDeadlineSeconds"),
    ) {
        (Some(n), _) if !(0..=MAX_INT32).contains(&n) => {
            errs.push(FieldError::invalid(
                &ads,
                n,
                &inclusive_range_error(0, MAX_INT32),
            ));
            return;
        }
        (Some(n), Some(o)) if o < n => {
            errs.push(FieldError::invalid(
                &ads,
                n,
                "must be less than or equal to previous value",
            ));
            return;
        }
        (None, Some(_)) => errs.push(FieldError::invalid(
            &ads,
            &Value::Null,
            "must not update from a positive integer to nil value",
        )),
        _ => {}
    }

    // Every old toleration must survive, except that its tolerationSeconds may change.
    let strip_seconds = |t: &Value| {
        let mut t = t.clone();
        if let Some(m) = t.as_object_mut() {
            m.remove("tolerationSeconds");
        }
        semantic(&t)
    };
    let new_tols: Vec<Value> = arr_at(new_spec, "tolerations")
        .iter()
        .map(strip_seconds)
        .collect();
    if arr_at(old_spec, "tolerations")
        .iter()
        .any(|t| !new_tols.contains(&strip_seconds(t)))
    {
        errs.push(FieldError::forbidden(
            &path.child("tolerations"),
            "existing toleration can not be modified except its tolerationSeconds",
        ));
    }

    let old_gates: Vec<&str> = arr_at(old_spec, "schedulingGates")
        .iter()
        .map(|g| str_at(g, "name"))
        .collect();
    for g in arr_at(new_spec, "schedulingGates") {
        let name = str_at(g, "name");
        if !old_gates.contains(&name) {
            errs.push(FieldError::forbidden(
                &path.child("schedulingGates"),
                &format!("only deletion is allowed, but found new scheduling gate '{name}'"),
            ));
        }
    }

    // Overwrite the mutable fields with the old values; anything still different is forbidden.
    let mut munged = new_spec.clone();
    if let Some(m) = munged.as_object_mut() {
        for key in ["containers", "initContainers"] {
            if let Some(list) = m.get_mut(key).and_then(Value::as_array_mut) {
                for (i, c) in list.iter_mut().enumerate() {
                    c["image"] = old_spec[key][i]["image"].clone();
                }
            }
        }
        for key in ["activeDeadlineSeconds", "schedulingGates", "tolerations"] {
            m.insert(key.to_string(), old_spec[key].clone());
        }
        let old_grace = int_at(old_spec, "terminationGracePeriodSeconds");
        if old_grace.is_some_and(|g| g < 0)
            && int_at(new_spec, "terminationGracePeriodSeconds") == Some(1)
        {
            m.insert(
                "terminationGracePeriodSeconds".to_string(),
                old_spec["terminationGracePeriodSeconds"].clone(),
            );
        }
    }
    let (a, b) = (semantic(old_spec), semantic(&munged));
    if a != b {
        let mut diff = Vec::new();
        spec_diff(&a, &b, "spec", 0, &mut diff);
        errs.push(FieldError::forbidden(
            &path,
            &format!("{POD_UPDATE_MSG}\n{}", diff.join("\n")),
        ));
    }
}

/// A short `-old` / `+new` listing of what differs, in place of Kubernetes' `cmp.Diff`.
fn spec_diff(old: &Value, new: &Value, at: &str, depth: usize, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if depth < 3 => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let null = Value::Null;
                let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
                spec_diff(x, y, &format!("{at}.{k}"), depth + 1, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if depth < 3 && a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                spec_diff(x, y, &format!("{at}[{i}]"), depth + 1, out);
            }
        }
        _ => {
            if !old.is_null() {
                out.push(format!("- {at}: {old}"));
            }
            if !new.is_null() {
                out.push(format!("+ {at}: {new}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{assert_has, messages, validate};
    use super::super::ErrorType;
    use serde_json::{json, Value};

    fn pod(spec: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    fn check(spec: Value) -> Vec<String> {
        messages(&validate("", "Pod", true, &pod(spec), None))
    }

    #[test]
    fn minimal_pod_is_valid() {
        assert!(check(json!({"containers": [{"name": "c", "image": "nginx"}]})).is_empty());
    }

    #[test]
    fn containers_are_required() {
        assert_eq!(check(json!({})), vec!["spec.containers: Required value"]);
        assert_eq!(
            check(json!({"containers": []})),
            vec!["spec.containers: Required value"]
        );
    }

    #[test]
    fn container_names_and_images() {
        let errs = check(json!({
            "containers": [{"name": "web", "image": "a"}, {"name": "web"}, {"name": "Bad_Name", "image": " b"}],
            "initContainers": [{"name": "web", "image": "c"}]
        }));
        assert!(errs.contains(&"spec.containers[1].name: Duplicate value: \"web\"".to_string()));
        assert!(errs.contains(&"spec.containers[1].image: Required value".to_string()));
        assert!(errs.iter().any(|e| e.starts_with(
            "spec.containers[2].name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 label"
        )));
        assert!(errs.contains(
            &"spec.containers[2].image: Invalid value: \" b\": must not have leading or trailing \
              whitespace"
                .to_string()
        ));
        assert!(errs.contains(&"spec.initContainers[0].name: Duplicate value: \"web\"".to_string()));
        assert_eq!(errs.len(), 5, "{errs:#?}");
    }

    #[test]
    fn ports_and_enumerations() {
        let errs = check(json!({
            "restartPolicy": "Sometimes",
            "dnsPolicy": "Everywhere",
            "containers": [{"name": "c", "image": "i", "imagePullPolicy": "Maybe",
                "ports": [{"containerPort": 70000, "protocol": "HTTP"}, {"containerPort": 0}]}]
        }));
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between \
                 1 and 65535, inclusive",
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported \
                 values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.containers[0].ports[1].containerPort: Required value",
                "spec.containers[0].imagePullPolicy: Unsupported value: \"Maybe\": supported \
                 values: \"Always\", \"IfNotPresent\", \"Never\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \
                 \"Always\", \"OnFailure\", \"Never\"",
                "spec.dnsPolicy: Unsupported value: \"Everywhere\": supported values: \
                 \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\"",
            ]
        );
    }

    #[test]
    fn limits_below_requests_are_rejected() {
        let errs = check(
            json!({"containers": [{"name": "c", "image": "i", "resources": {
            "limits": {"cpu": "500m", "memory": "1Gi"},
            "requests": {"cpu": "1", "memory": "1024Mi"}}}]}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].resources.requests: Invalid value: \"1\": must be less than \
                 or equal to cpu limit of 500m"
            ]
        );
        let errs = check(
            json!({"containers": [{"name": "c", "image": "i", "resources": {
            "requests": {"cpu": "-1", "gpu": "1", "example.com/dongle": "2"}}}]}),
        );
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].resources.requests[cpu]: Invalid value: \"-1\": must be \
                 greater than or equal to 0",
                "spec.containers[0].resources.requests[gpu]: Invalid value: \"gpu\": must be a \
                 standard resource for containers",
                "spec.containers[0].resources.limits: Required value: Limit must be set for non \
                 overcommitable resources",
            ]
        );
    }

    #[test]
    fn env_and_volumes() {
        let errs = check(json!({
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "data", "emptyDir": {}},
                        {"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}, {"name": "none"}],
            "containers": [{"name": "c", "image": "i",
                "env": [{"name": "A=B"}, {"name": "OK", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "volumeMounts": [{"name": "data", "mountPath": "/d"}, {"name": "missing", "mountPath": "/d"}]}]
        }));
        assert_eq!(
            errs,
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"",
                "spec.volumes[2].hostPath: Forbidden: may not specify more than 1 volume type",
                "spec.volumes[3]: Required value: must specify a volume type",
                "spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment \
                 variable name must consist only of printable ASCII characters other than '='",
                "spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not be specified \
                 when `value` is not empty",
                "spec.containers[0].volumeMounts[1].name: Not found: \"missing\"",
                "spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/d\": must be \
                 unique",
            ]
        );
    }

    #[test]
    fn probes_and_tolerations() {
        let errs = check(json!({
            "tolerations": [{"operator": "Equal", "value": "x"}, {"key": "k", "operator": "Maybe"}],
            "containers": [{"name": "c", "image": "i",
                "livenessProbe": {"successThreshold": 2, "httpGet": {"port": 0}},
                "readinessProbe": {"periodSeconds": -1}}]
        }));
        assert_eq!(
            errs,
            vec![
                "spec.containers[0].livenessProbe.httpGet.port: Invalid value: 0: must be between \
                 1 and 65535, inclusive",
                "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
                "spec.containers[0].readinessProbe: Required value: must specify a handler type",
                "spec.containers[0].readinessProbe.periodSeconds: Invalid value: -1: must be \
                 greater than or equal to 0",
                "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists \
                 when `key` is empty, which means \"match all values and all keys\"",
                "spec.tolerations[1].operator: Unsupported value: \"Maybe\": supported values: \
                 \"Equal\", \"Exists\"",
            ]
        );
    }

    #[test]
    fn pod_spec_is_immutable_except_images() {
        let old = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}],
            "tolerations": [{"key": "a", "operator": "Exists"}]}));
        // Changing the image, adding a toleration: allowed.
        let new = pod(json!({"containers": [{"name": "c", "image": "nginx:2"}],
            "tolerations": [{"key": "a", "operator": "Exists"}, {"key": "b", "operator": "Exists"}]}));
        assert_eq!(
            messages(&validate("", "Pod", true, &new, Some(&old))),
            Vec::<String>::new()
        );
        // Changing the restart policy: forbidden at `spec`.
        let new = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}],
            "restartPolicy": "Never", "tolerations": [{"key": "a", "operator": "Exists"}]}));
        let errs = validate("", "Pod", true, &new, Some(&old));
        assert_eq!(errs.len(), 1, "{:#?}", messages(&errs));
        assert_eq!(errs[0].field, "spec");
        assert_eq!(errs[0].error_type, ErrorType::Forbidden);
        assert!(errs[0].detail.starts_with(
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        ));
        assert!(errs[0].detail.contains("- spec.restartPolicy: \"Always\""));
        assert!(errs[0].detail.contains("+ spec.restartPolicy: \"Never\""));
        // Removing a toleration or a container: forbidden.
        let new = pod(
            json!({"containers": [{"name": "c", "image": "nginx:1"}, {"name": "d", "image": "x"}]}),
        );
        assert_has(
            &validate("", "Pod", true, &new, Some(&old)),
            "spec.containers: Forbidden: pod updates may not add or remove containers",
        );
        let new = pod(json!({"containers": [{"name": "c", "image": "nginx:1"}]}));
        assert_has(
            &validate("", "Pod", true, &new, Some(&old)),
            "spec.tolerations: Forbidden: existing toleration can not be modified except its \
             tolerationSeconds",
        );
    }

    #[test]
    fn active_deadline_may_only_shrink() {
        let old =
            pod(json!({"containers": [{"name": "c", "image": "i"}], "activeDeadlineSeconds": 30}));
        let new =
            pod(json!({"containers": [{"name": "c", "image": "i"}], "activeDeadlineSeconds": 10}));
        assert!(validate("", "Pod", true, &new, Some(&old)).is_empty());
        let new =
            pod(json!({"containers": [{"name": "c", "image": "i"}], "activeDeadlineSeconds": 60}));
        assert_eq!(
            messages(&validate("", "Pod", true, &new, Some(&old))),
            vec![
                "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to \
                  previous value"
            ]
        );
        let new = pod(json!({"containers": [{"name": "c", "image": "i"}]}));
        assert_has(
            &validate("", "Pod", true, &new, Some(&old)),
            "spec.activeDeadlineSeconds: Invalid value: null: must not update from a positive \
             integer to nil value",
        );
    }

    #[test]
    fn equal_quantities_in_other_units_are_not_changes() {
        let old = pod(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": "1"}}}]}));
        let new = pod(json!({"containers": [{"name": "c", "image": "i",
            "resources": {"limits": {"cpu": "1000m"}, "requests": {"cpu": "1"}}}]}));
        assert_eq!(
            messages(&validate("", "Pod", true, &new, Some(&old))),
            Vec::<String>::new()
        );
    }
}

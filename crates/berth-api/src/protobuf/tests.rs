//! Tests for protobuf body decoding: objects built with the k8s-pb prost structs, real kubectl
//! request bodies (see `testdata/README.md`),
//! the special Kubernetes types, proto merge rules, and malformed input.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::authorization::v1 as authz;
use k8s_pb::api::autoscaling::v1 as hpa1;
use k8s_pb::api::autoscaling::v2 as hpa2;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::encoding::{encode_key, encode_varint, WireType};
use prost::Message as _;
use serde_json::{json, Value};

use super::decode::{decode_message, format_time, go_duration};
use super::schema::{map, nz, opt, rep, Kind, Message};
use super::{decode_object, ProtobufError};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Wraps `raw` the way client-go does: magic, then `runtime.Unknown`.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    body
}

fn decode<M: prost::Message>(api_version: &str, kind: &str, object: &M) -> Value {
    decode_object(&envelope(api_version, kind, object.encode_to_vec())).unwrap()
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn quantity(v: &str) -> Quantity {
    Quantity { string: s(v) }
}

fn int_or_string_int(v: i32) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(0),
        int_val: Some(v),
        str_val: None,
    })
}

fn int_or_string_str(v: &str) -> Option<IntOrString> {
    Some(IntOrString {
        r#type: Some(1),
        int_val: Some(0),
        str_val: s(v),
    })
}

fn time(seconds: i64) -> Option<meta::Time> {
    Some(meta::Time {
        seconds: Some(seconds),
        nanos: Some(0),
    })
}

fn labels(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Object metadata as Go's marshaller writes it: every non-pointer field present, zero or not.
fn go_meta(name: &str, namespace: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: s(name),
        generate_name: s(""),
        namespace: s(namespace),
        self_link: s(""),
        uid: s(""),
        resource_version: s(""),
        generation: Some(0),
        creation_timestamp: Some(meta::Time::default()),
        ..Default::default()
    })
}

/// Field key for hand-built wire data.
fn key(number: u32, wire: WireType, buf: &mut Vec<u8>) {
    encode_key(number, wire, buf);
}

fn len_field(number: u32, data: &[u8], buf: &mut Vec<u8>) {
    key(number, WireType::LengthDelimited, buf);
    encode_varint(data.len() as u64, buf);
    buf.extend_from_slice(data);
}

fn varint_field(number: u32, value: u64, buf: &mut Vec<u8>) {
    key(number, WireType::Varint, buf);
    encode_varint(value, buf);
}

/// Drops `"creationTimestamp": null`, which kubectl 1.32 prints but Kubernetes 1.34+ omits.
fn strip_null_creation_timestamp(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if m.get("creationTimestamp") == Some(&Value::Null) {
                m.remove("creationTimestamp");
            }
            m.values_mut().for_each(strip_null_creation_timestamp);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_null_creation_timestamp),
        _ => {}
    }
}

/// Compares as pretty-printed text so that key order (Go struct order) is checked as well.
fn assert_same_json(got: &Value, want: &Value, what: &str) {
    let got = serde_json::to_string_pretty(got).unwrap();
    let want = serde_json::to_string_pretty(want).unwrap();
    assert!(got == want, "{what}: decoded\n{got}\nexpected\n{want}");
}

// ---------------------------------------------------------------------------------------------
// Objects built with k8s-pb

#[test]
fn deployment_like_kubectl_create() {
    let deployment = apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            labels: labels(&[("app", "web")]),
            ..go_meta("web", "default").unwrap()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: labels(&[("app", "web")]),
                match_expressions: vec![],
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels: labels(&[("app", "web")]),
                    ..go_meta("", "").unwrap()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![core::Container {
                        name: s("nginx"),
                        image: s("nginx"),
                        working_dir: s(""),
                        ports: vec![core::ContainerPort {
                            name: s(""),
                            host_port: Some(0),
                            container_port: Some(80),
                            protocol: s(""),
                            host_ip: s(""),
                        }],
                        resources: Some(core::ResourceRequirements::default()),
                        termination_message_path: s(""),
                        image_pull_policy: s(""),
                        stdin: Some(false),
                        tty: Some(false),
                        ..Default::default()
                    }],
                    restart_policy: s(""),
                    dns_policy: s(""),
                    service_account_name: s(""),
                    host_network: Some(false),
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: s(""),
                rolling_update: None,
            }),
            min_ready_seconds: Some(0),
            // A pointer field: zero is meaningful and must survive.
            revision_history_limit: Some(0),
            paused: Some(false),
            progress_deadline_seconds: None,
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ..Default::default()
        }),
    };
    let got = decode("apps/v1", "Deployment", &deployment);
    let want = json!({
        "kind": "Deployment",
        "apiVersion": "apps/v1",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "nginx",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "resources": {}
                }]}
            },
            "strategy": {},
            "revisionHistoryLimit": 0
        },
        "status": {}
    });
    assert_same_json(&got, &want, "deployment");
}

#[test]
fn secret_data_is_base64() {
    let secret = core::Secret {
        metadata: go_meta("creds", "default"),
        immutable: None,
        data: [
            ("password".to_owned(), b"hunter2".to_vec()),
            ("binary".to_owned(), vec![0, 1, 0xff]),
            ("empty".to_owned(), vec![]),
        ]
        .into_iter()
        .collect(),
        string_data: labels(&[("plain", "text")]),
        r#type: s("Opaque"),
    };
    let got = decode("v1", "Secret", &secret);
    assert_eq!(
        got,
        json!({
            "kind": "Secret",
            "apiVersion": "v1",
            "metadata": {"name": "creds", "namespace": "default"},
            "data": {"binary": "AAH/", "empty": "", "password": "aHVudGVyMg=="},
            "stringData": {"plain": "text"},
            "type": "Opaque"
        })
    );
}

#[test]
fn config_map_with_binary_data_and_pointer_bool() {
    let cm = core::ConfigMap {
        metadata: go_meta("cfg", "default"),
        // `immutable` is a *bool: present false must be shown.
        immutable: Some(false),
        data: labels(&[("a", "1"), ("b", "")]),
        binary_data: [("blob".to_owned(), b"bin\0".to_vec())]
            .into_iter()
            .collect(),
    };
    let got = decode("v1", "ConfigMap", &cm);
    assert_same_json(
        &got,
        &json!({
            "kind": "ConfigMap",
            "apiVersion": "v1",
            "metadata": {"name": "cfg", "namespace": "default"},
            "immutable": false,
            "data": {"a": "1", "b": ""},
            "binaryData": {"blob": "YmluAA=="}
        }),
        "configmap",
    );
}

#[test]
fn namespace_with_spec_and_empty_status() {
    let ns = core::Namespace {
        metadata: Some(meta::ObjectMeta {
            annotations: labels(&[("note", "x")]),
            finalizers: vec!["example.com/f".into()],
            ..go_meta("dev", "").unwrap()
        }),
        spec: Some(core::NamespaceSpec {
            finalizers: vec!["kubernetes".into()],
        }),
        status: Some(core::NamespaceStatus {
            phase: s(""),
            conditions: vec![],
        }),
    };
    assert_eq!(
        decode("v1", "Namespace", &ns),
        json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {
                "name": "dev",
                "annotations": {"note": "x"},
                "finalizers": ["example.com/f"]
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {}
        })
    );
}

#[test]
fn service_with_int_and_string_target_ports() {
    let svc = core::Service {
        metadata: go_meta("web", "default"),
        spec: Some(core::ServiceSpec {
            ports: vec![
                core::ServicePort {
                    name: s("http"),
                    protocol: s("TCP"),
                    app_protocol: None,
                    port: Some(80),
                    target_port: int_or_string_int(8080),
                    node_port: Some(0),
                },
                core::ServicePort {
                    name: s("https"),
                    protocol: s("TCP"),
                    app_protocol: s("https"),
                    port: Some(443),
                    target_port: int_or_string_str("https"),
                    node_port: Some(30443),
                },
            ],
            selector: labels(&[("app", "web")]),
            cluster_ip: s("None"),
            r#type: s("NodePort"),
            session_affinity: s(""),
            ip_family_policy: s("SingleStack"),
            publish_not_ready_addresses: Some(false),
            allocate_load_balancer_node_ports: Some(false),
            ..Default::default()
        }),
        status: Some(core::ServiceStatus {
            load_balancer: Some(core::LoadBalancerStatus::default()),
            conditions: vec![],
        }),
    };
    assert_same_json(
        &decode("v1", "Service", &svc),
        &json!({
            "kind": "Service",
            "apiVersion": "v1",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "ports": [
                    {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                    {
                        "name": "https",
                        "protocol": "TCP",
                        "appProtocol": "https",
                        "port": 443,
                        "targetPort": "https",
                        "nodePort": 30443
                    }
                ],
                "selector": {"app": "web"},
                "clusterIP": "None",
                "type": "NodePort",
                "ipFamilyPolicy": "SingleStack",
                "allocateLoadBalancerNodePorts": false
            },
            "status": {"loadBalancer": {}}
        }),
        "service",
    );
}

fn probe(handler: core::ProbeHandler) -> Option<core::Probe> {
    Some(core::Probe {
        handler: Some(handler),
        initial_delay_seconds: Some(5),
        timeout_seconds: Some(0),
        period_seconds: Some(10),
        success_threshold: Some(0),
        failure_threshold: Some(3),
        termination_grace_period_seconds: None,
    })
}

#[test]
fn pod_with_probes_resources_volumes_and_metadata() {
    let container = core::Container {
        name: s("app"),
        image: s("example/app:1"),
        command: vec!["/app".into()],
        args: vec!["--port=8080".into()],
        env: vec![
            core::EnvVar {
                name: s("MODE"),
                value: s("prod"),
                value_from: None,
            },
            core::EnvVar {
                name: s("PASSWORD"),
                value: s(""),
                value_from: Some(core::EnvVarSource {
                    secret_key_ref: Some(core::SecretKeySelector {
                        local_object_reference: Some(core::LocalObjectReference {
                            name: s("creds"),
                        }),
                        key: s("password"),
                        optional: Some(false),
                    }),
                    ..Default::default()
                }),
            },
        ],
        resources: Some(core::ResourceRequirements {
            limits: [
                ("cpu".to_owned(), quantity("1")),
                ("memory".to_owned(), quantity("128Mi")),
            ]
            .into_iter()
            .collect(),
            requests: [("cpu".to_owned(), quantity("100m"))].into_iter().collect(),
            claims: vec![],
        }),
        volume_mounts: vec![core::VolumeMount {
            name: s("cache"),
            read_only: Some(true),
            mount_path: s("/cache"),
            sub_path: s(""),
            ..Default::default()
        }],
        liveness_probe: probe(core::ProbeHandler {
            http_get: Some(core::HttpGetAction {
                path: s("/healthz"),
                port: int_or_string_str("http"),
                host: s(""),
                scheme: s("HTTP"),
                http_headers: vec![core::HttpHeader {
                    name: s("X-Probe"),
                    value: s("1"),
                }],
            }),
            ..Default::default()
        }),
        readiness_probe: probe(core::ProbeHandler {
            tcp_socket: Some(core::TcpSocketAction {
                port: int_or_string_int(8080),
                host: s(""),
            }),
            ..Default::default()
        }),
        startup_probe: probe(core::ProbeHandler {
            exec: Some(core::ExecAction {
                command: vec!["true".into()],
            }),
            ..Default::default()
        }),
        lifecycle: Some(core::Lifecycle {
            post_start: None,
            pre_stop: Some(core::LifecycleHandler {
                sleep: Some(core::SleepAction { seconds: Some(5) }),
                ..Default::default()
            }),
            stop_signal: None,
        }),
        security_context: Some(core::SecurityContext {
            capabilities: Some(core::Capabilities {
                add: vec![],
                drop: vec!["ALL".into()],
            }),
            run_as_user: Some(0),
            run_as_non_root: Some(false),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        termination_message_path: s("/dev/termination-log"),
        image_pull_policy: s("IfNotPresent"),
        ..Default::default()
    };
    let volumes = vec![
        core::Volume {
            name: s("cache"),
            volume_source: Some(core::VolumeSource {
                empty_dir: Some(core::EmptyDirVolumeSource {
                    medium: s(""),
                    size_limit: None,
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("host"),
            volume_source: Some(core::VolumeSource {
                host_path: Some(core::HostPathVolumeSource {
                    path: s("/var/log"),
                    r#type: s(""),
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("config"),
            volume_source: Some(core::VolumeSource {
                config_map: Some(core::ConfigMapVolumeSource {
                    local_object_reference: Some(core::LocalObjectReference { name: s("cfg") }),
                    items: vec![core::KeyToPath {
                        key: s("a"),
                        path: s("a.txt"),
                        mode: None,
                    }],
                    default_mode: Some(0o644),
                    optional: None,
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("secret"),
            volume_source: Some(core::VolumeSource {
                secret: Some(core::SecretVolumeSource {
                    secret_name: s("creds"),
                    items: vec![],
                    default_mode: Some(0o400),
                    optional: Some(true),
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("data"),
            volume_source: Some(core::VolumeSource {
                persistent_volume_claim: Some(core::PersistentVolumeClaimVolumeSource {
                    claim_name: s("data"),
                    read_only: Some(false),
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("podinfo"),
            volume_source: Some(core::VolumeSource {
                downward_api: Some(core::DownwardAPIVolumeSource {
                    items: vec![
                        core::DownwardAPIVolumeFile {
                            path: s("labels"),
                            field_ref: Some(core::ObjectFieldSelector {
                                api_version: s("v1"),
                                field_path: s("metadata.labels"),
                            }),
                            resource_field_ref: None,
                            mode: None,
                        },
                        core::DownwardAPIVolumeFile {
                            path: s("cpu"),
                            field_ref: None,
                            resource_field_ref: Some(core::ResourceFieldSelector {
                                container_name: s("app"),
                                resource: s("limits.cpu"),
                                divisor: Some(quantity("1m")),
                            }),
                            mode: None,
                        },
                    ],
                    default_mode: None,
                }),
                ..Default::default()
            }),
        },
        core::Volume {
            name: s("token"),
            volume_source: Some(core::VolumeSource {
                projected: Some(core::ProjectedVolumeSource {
                    sources: vec![
                        core::VolumeProjection {
                            service_account_token: Some(core::ServiceAccountTokenProjection {
                                audience: s(""),
                                expiration_seconds: Some(3607),
                                path: s("token"),
                            }),
                            ..Default::default()
                        },
                        core::VolumeProjection {
                            config_map: Some(core::ConfigMapProjection {
                                local_object_reference: Some(core::LocalObjectReference {
                                    name: s("kube-root-ca.crt"),
                                }),
                                items: vec![],
                                optional: None,
                            }),
                            ..Default::default()
                        },
                    ],
                    default_mode: Some(420),
                }),
                ..Default::default()
            }),
        },
    ];
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: s("app-0"),
            namespace: s("default"),
            uid: s("1234"),
            generation: Some(2),
            creation_timestamp: time(1_704_164_645),
            deletion_timestamp: time(1_704_164_700),
            deletion_grace_period_seconds: Some(0),
            owner_references: vec![meta::OwnerReference {
                api_version: s("apps/v1"),
                kind: s("ReplicaSet"),
                name: s("app-abc"),
                uid: s("5678"),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }],
            managed_fields: vec![meta::ManagedFieldsEntry {
                manager: s("kubectl"),
                operation: s("Update"),
                api_version: s("v1"),
                time: time(1_704_164_645),
                fields_type: s("FieldsV1"),
                fields_v1: Some(meta::FieldsV1 {
                    raw: Some(br#"{"f:metadata":{"f:labels":{}}}"#.to_vec()),
                }),
                subresource: s(""),
            }],
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            volumes,
            containers: vec![container],
            restart_policy: s("Always"),
            termination_grace_period_seconds: Some(30),
            node_selector: labels(&[("kubernetes.io/os", "linux")]),
            automount_service_account_token: Some(false),
            security_context: Some(core::PodSecurityContext {
                fs_group: Some(2000),
                supplemental_groups: vec![1, 2],
                ..Default::default()
            }),
            affinity: Some(core::Affinity {
                node_affinity: Some(core::NodeAffinity {
                    required_during_scheduling_ignored_during_execution: Some(core::NodeSelector {
                        node_selector_terms: vec![core::NodeSelectorTerm {
                            match_expressions: vec![core::NodeSelectorRequirement {
                                key: s("zone"),
                                operator: s("In"),
                                values: vec!["a".into()],
                            }],
                            match_fields: vec![],
                        }],
                    }),
                    preferred_during_scheduling_ignored_during_execution: vec![],
                }),
                ..Default::default()
            }),
            tolerations: vec![core::Toleration {
                key: s("dedicated"),
                operator: s("Exists"),
                value: s(""),
                effect: s("NoSchedule"),
                toleration_seconds: None,
            }],
            overhead: [("cpu".to_owned(), quantity("10m"))].into_iter().collect(),
            ..Default::default()
        }),
        status: Some(core::PodStatus::default()),
    };
    let got = decode("v1", "Pod", &pod);
    let want = json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": "app-0",
            "namespace": "default",
            "uid": "1234",
            "generation": 2,
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "deletionTimestamp": "2024-01-02T03:05:00Z",
            "deletionGracePeriodSeconds": 0,
            "ownerReferences": [{
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "app-abc",
                "uid": "5678",
                "controller": true,
                "blockOwnerDeletion": true
            }],
            "managedFields": [{
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {}}}
            }]
        },
        "spec": {
            "volumes": [
                {"name": "cache", "emptyDir": {}},
                // `type` is a *HostPathType: present and empty is shown.
                {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
                {"name": "config", "configMap": {
                    "name": "cfg",
                    "items": [{"key": "a", "path": "a.txt"}],
                    "defaultMode": 420
                }},
                {"name": "secret", "secret": {
                    "secretName": "creds",
                    "defaultMode": 256,
                    "optional": true
                }},
                {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "podinfo", "downwardAPI": {"items": [
                    {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}},
                    {"path": "cpu", "resourceFieldRef": {
                        "containerName": "app",
                        "resource": "limits.cpu",
                        "divisor": "1m"
                    }}
                ]}},
                {"name": "token", "projected": {
                    "sources": [
                        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                        {"configMap": {"name": "kube-root-ca.crt"}}
                    ],
                    "defaultMode": 420
                }}
            ],
            "containers": [{
                "name": "app",
                "image": "example/app:1",
                "command": ["/app"],
                "args": ["--port=8080"],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
                        "name": "creds",
                        "key": "password",
                        "optional": false
                    }}}
                ],
                "resources": {
                    "limits": {"cpu": "1", "memory": "128Mi"},
                    "requests": {"cpu": "100m"}
                },
                "volumeMounts": [{"name": "cache", "readOnly": true, "mountPath": "/cache"}],
                "livenessProbe": {
                    "httpGet": {
                        "path": "/healthz",
                        "port": "http",
                        "scheme": "HTTP",
                        "httpHeaders": [{"name": "X-Probe", "value": "1"}]
                    },
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                    "failureThreshold": 3
                },
                "readinessProbe": {
                    "tcpSocket": {"port": 8080},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                    "failureThreshold": 3
                },
                "startupProbe": {
                    "exec": {"command": ["true"]},
                    "initialDelaySeconds": 5,
                    "periodSeconds": 10,
                    "failureThreshold": 3
                },
                "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                "terminationMessagePath": "/dev/termination-log",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {
                    "capabilities": {"drop": ["ALL"]},
                    "runAsUser": 0,
                    "runAsNonRoot": false,
                    "allowPrivilegeEscalation": false
                }
            }],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "nodeSelector": {"kubernetes.io/os": "linux"},
            "automountServiceAccountToken": false,
            "securityContext": {"supplementalGroups": [1, 2], "fsGroup": 2000},
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]}
                ]}]
            }}},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "overhead": {"cpu": "10m"}
        },
        "status": {}
    });
    assert_same_json(&got, &want, "pod");
}

#[test]
fn job_and_cron_job() {
    let template = core::PodTemplateSpec {
        metadata: None,
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: s("once"),
                image: s("busybox"),
                command: vec!["echo".into(), "hi".into()],
                ..Default::default()
            }],
            restart_policy: s("Never"),
            ..Default::default()
        }),
    };
    let job_spec = batch::JobSpec {
        backoff_limit: Some(0),
        completions: Some(1),
        template: Some(template),
        ttl_seconds_after_finished: Some(100),
        pod_failure_policy: Some(batch::PodFailurePolicy {
            rules: vec![batch::PodFailurePolicyRule {
                action: s("FailJob"),
                on_exit_codes: Some(batch::PodFailurePolicyOnExitCodesRequirement {
                    container_name: None,
                    operator: s("In"),
                    values: vec![42, -1],
                }),
                on_pod_conditions: vec![],
            }],
        }),
        ..Default::default()
    };
    let job = batch::Job {
        metadata: go_meta("once", "default"),
        spec: Some(job_spec.clone()),
        status: Some(batch::JobStatus {
            active: Some(0),
            ..Default::default()
        }),
    };
    let spec_json = json!({
        "completions": 1,
        "podFailurePolicy": {"rules": [{
            "action": "FailJob",
            "onExitCodes": {"operator": "In", "values": [42, -1]}
        }]},
        "backoffLimit": 0,
        "template": {"spec": {
            "containers": [{"name": "once", "image": "busybox", "command": ["echo", "hi"]}],
            "restartPolicy": "Never"
        }},
        "ttlSecondsAfterFinished": 100
    });
    assert_same_json(
        &decode("batch/v1", "Job", &job),
        &json!({
            "kind": "Job",
            "apiVersion": "batch/v1",
            "metadata": {"name": "once", "namespace": "default"},
            "spec": spec_json,
            "status": {}
        }),
        "job",
    );

    let cron = batch::CronJob {
        metadata: go_meta("tick", "default"),
        spec: Some(batch::CronJobSpec {
            schedule: s("*/5 * * * *"),
            time_zone: s("Etc/UTC"),
            concurrency_policy: s(""),
            suspend: Some(false),
            job_template: Some(batch::JobTemplateSpec {
                metadata: go_meta("tick", ""),
                spec: Some(job_spec),
            }),
            ..Default::default()
        }),
        status: Some(batch::CronJobStatus {
            last_schedule_time: time(0),
            ..Default::default()
        }),
    };
    assert_same_json(
        &decode("batch/v1", "CronJob", &cron),
        &json!({
            "kind": "CronJob",
            "apiVersion": "batch/v1",
            "metadata": {"name": "tick", "namespace": "default"},
            "spec": {
                "schedule": "*/5 * * * *",
                "timeZone": "Etc/UTC",
                "suspend": false,
                "jobTemplate": {"metadata": {"name": "tick"}, "spec": spec_json}
            },
            "status": {"lastScheduleTime": "1970-01-01T00:00:00Z"}
        }),
        "cronjob",
    );
}

#[test]
fn horizontal_pod_autoscalers_v1_and_v2() {
    let target = |api_version: &str| {
        (
            s("Deployment"),
            s("web"),
            s(api_version),
            json!({"kind": "Deployment", "name": "web", "apiVersion": api_version}),
        )
    };
    let (kind, name, api_version, target_json) = target("apps/v1");
    let v1 = hpa1::HorizontalPodAutoscaler {
        metadata: go_meta("web", "default"),
        spec: Some(hpa1::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(hpa1::CrossVersionObjectReference {
                kind: kind.clone(),
                name: name.clone(),
                api_version: api_version.clone(),
            }),
            min_replicas: Some(2),
            max_replicas: Some(5),
            target_cpu_utilization_percentage: Some(80),
        }),
        status: Some(hpa1::HorizontalPodAutoscalerStatus {
            current_replicas: Some(0),
            desired_replicas: Some(0),
            ..Default::default()
        }),
    };
    assert_eq!(
        decode("autoscaling/v1", "HorizontalPodAutoscaler", &v1),
        json!({
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v1",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": target_json,
                "minReplicas": 2,
                "maxReplicas": 5,
                "targetCPUUtilizationPercentage": 80
            },
            "status": {"currentReplicas": 0, "desiredReplicas": 0}
        })
    );

    let v2 = hpa2::HorizontalPodAutoscaler {
        metadata: go_meta("web", "default"),
        spec: Some(hpa2::HorizontalPodAutoscalerSpec {
            scale_target_ref: Some(hpa2::CrossVersionObjectReference {
                kind,
                name,
                api_version,
            }),
            min_replicas: Some(1),
            max_replicas: Some(10),
            metrics: vec![hpa2::MetricSpec {
                r#type: s("Resource"),
                resource: Some(hpa2::ResourceMetricSource {
                    name: s("cpu"),
                    target: Some(hpa2::MetricTarget {
                        r#type: s("Utilization"),
                        average_utilization: Some(70),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }],
            behavior: Some(hpa2::HorizontalPodAutoscalerBehavior {
                scale_down: Some(hpa2::HpaScalingRules {
                    stabilization_window_seconds: Some(300),
                    select_policy: None,
                    policies: vec![hpa2::HpaScalingPolicy {
                        r#type: s("Pods"),
                        value: Some(1),
                        period_seconds: Some(60),
                    }],
                    tolerance: Some(quantity("50m")),
                }),
                scale_up: None,
            }),
        }),
        status: None,
    };
    assert_same_json(
        &decode("autoscaling/v2", "HorizontalPodAutoscaler", &v2),
        &json!({
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v2",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "scaleTargetRef": target("apps/v1").3,
                "minReplicas": 1,
                "maxReplicas": 10,
                "metrics": [{
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}
                }],
                "behavior": {"scaleDown": {
                    "stabilizationWindowSeconds": 300,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                    "tolerance": "50m"
                }}
            }
        }),
        "hpa v2",
    );
}

#[test]
fn self_subject_access_review() {
    let review = authz::SelfSubjectAccessReview {
        metadata: go_meta("", ""),
        spec: Some(authz::SelfSubjectAccessReviewSpec {
            resource_attributes: Some(authz::ResourceAttributes {
                namespace: s("default"),
                verb: s("get"),
                group: s(""),
                version: s(""),
                resource: s("pods"),
                subresource: s("log"),
                name: s(""),
                field_selector: None,
                label_selector: None,
            }),
            non_resource_attributes: None,
        }),
        status: Some(authz::SubjectAccessReviewStatus {
            allowed: Some(false),
            denied: Some(false),
            reason: s(""),
            evaluation_error: s(""),
        }),
    };
    assert_eq!(
        decode(
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview",
            &review
        ),
        json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {},
            "spec": {"resourceAttributes": {
                "namespace": "default",
                "verb": "get",
                "resource": "pods",
                "subresource": "log"
            }},
            "status": {"allowed": false}
        })
    );
}

#[test]
fn service_account() {
    let sa = core::ServiceAccount {
        metadata: go_meta("robot", "default"),
        secrets: vec![],
        image_pull_secrets: vec![core::LocalObjectReference { name: s("reg") }],
        automount_service_account_token: Some(true),
    };
    assert_eq!(
        decode("v1", "ServiceAccount", &sa),
        json!({
            "kind": "ServiceAccount",
            "apiVersion": "v1",
            "metadata": {"name": "robot", "namespace": "default"},
            "imagePullSecrets": [{"name": "reg"}],
            "automountServiceAccountToken": true
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Recorded bodies

/// Bodies kubectl 1.32 actually sent, against its own `--dry-run=client -o json` output.
#[test]
fn kubectl_bodies_decode_to_kubectls_json() {
    macro_rules! captures {
        ($($name:literal),* $(,)?) => {
            &[$((
                $name,
                include_bytes!(concat!("testdata/kubectl/", $name, ".pb")).as_slice(),
                include_str!(concat!("testdata/kubectl/", $name, ".json")),
            )),*]
        };
    }
    let cases: &[(&str, &[u8], &str)] = captures!(
        "deployment",
        "namespace",
        "configmap",
        "secret",
        "secret_docker_registry",
        "serviceaccount",
        "service_clusterip",
        "service_nodeport",
        "service_externalname",
        "service_headless",
        "job",
        "cronjob",
        "autoscale",
        "role",
        "clusterrole",
        "rolebinding",
        "clusterrolebinding",
        "ingress",
        "pdb",
        "priorityclass",
        "quota",
    );
    for (name, body, want) in cases {
        let got = decode_object(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut want: Value = serde_json::from_str(want).unwrap();
        strip_null_creation_timestamp(&mut want);
        assert_same_json(&got, &want, name);
    }
}

#[test]
fn kubectl_auth_can_i_and_create_token_bodies() {
    assert_eq!(
        decode_object(include_bytes!("testdata/kubectl/can_i.pb")).unwrap(),
        json!({
            "kind": "SelfSubjectAccessReview",
            "apiVersion": "authorization.k8s.io/v1",
            "metadata": {},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
            "status": {"allowed": false}
        })
    );
    assert_eq!(
        decode_object(include_bytes!("testdata/kubectl/token.pb")).unwrap(),
        json!({
            "kind": "TokenRequest",
            "apiVersion": "authentication.k8s.io/v1",
            "metadata": {},
            "spec": {"audiences": ["api"], "expirationSeconds": 600},
            "status": {"token": "", "expirationTimestamp": null}
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Special types and proto rules, through a test-only descriptor

static SPECIALS: Message = Message {
    name: "test.Specials",
    fields: &[
        opt(1, "time", Kind::Time),
        opt(2, "micro", Kind::MicroTime),
        opt(3, "duration", Kind::Duration),
        opt(4, "raw", Kind::RawExtension),
        opt(5, "quantity", Kind::Quantity),
        opt(6, "intOrString", Kind::IntOrString),
        nz(7, "omitZeroTime", Kind::Time),
        rep(8, "numbers", Kind::I32),
        opt(9, "count", Kind::I32),
        map(10, "quantities", Kind::Quantity),
        opt(11, "nested", Kind::Msg(&SPECIALS_INNER)),
        nz(12, "flag", Kind::Bool),
    ],
};

static SPECIALS_INNER: Message = Message {
    name: "test.Inner",
    fields: &[opt(1, "a", Kind::Str), rep(2, "list", Kind::Str)],
};

fn specials(buf: &[u8]) -> Result<Value, ProtobufError> {
    decode_message(&SPECIALS, buf, 0, 0).map(Value::Object)
}

fn timestamp(seconds: i64, nanos: i32) -> Vec<u8> {
    let mut t = Vec::new();
    varint_field(1, seconds as u64, &mut t);
    varint_field(2, nanos as u64, &mut t);
    t
}

#[test]
fn time_and_micro_time() {
    let mut buf = Vec::new();
    // Time drops nanos, MicroTime truncates them to microseconds.
    len_field(1, &timestamp(1_704_164_645, 999_999_999), &mut buf);
    len_field(2, &timestamp(1_704_164_645, 123_456_789), &mut buf);
    assert_eq!(
        specials(&buf).unwrap(),
        json!({"time": "2024-01-02T03:04:05Z", "micro": "2024-01-02T03:04:05.123456Z"})
    );

    // The zero time (an empty message, or Go's year-1 instant) is null, and omitted when
    // the field is omitzero.
    let mut buf = Vec::new();
    len_field(1, &[], &mut buf);
    len_field(2, &timestamp(-62_135_596_800, 0), &mut buf);
    len_field(7, &[], &mut buf);
    assert_eq!(
        specials(&buf).unwrap(),
        json!({"time": null, "micro": null})
    );

    assert_eq!(
        format_time(0, 0, true).unwrap(),
        json!("1970-01-01T00:00:00.000000Z")
    );
    assert_eq!(
        format_time(-1, 0, false).unwrap(),
        json!("1969-12-31T23:59:59Z")
    );
    // Nanos outside 0..1e9 carry into seconds, as in Go's time.Unix.
    assert_eq!(
        format_time(10, -500_000_000, true).unwrap(),
        json!("1970-01-01T00:00:09.500000Z")
    );
    assert!(matches!(
        format_time(253_402_300_800, 0, false),
        Err(ProtobufError::TimeOutOfRange { .. })
    ));
}

#[test]
fn durations_print_like_go() {
    for (nanos, want) in [
        (0, "0s"),
        (1, "1ns"),
        (1_500, "1.5µs"),
        (100_000_000, "100ms"),
        (1_500_000_000, "1.5s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_000_000_001, "1h2m3.000000001s"),
        (-2_000_000, "-2ms"),
        (i64::MIN, "-2562047h47m16.854775808s"),
    ] {
        assert_eq!(go_duration(nanos), want, "{nanos}ns");
    }
    let mut inner = Vec::new();
    varint_field(1, 90_000_000_000, &mut inner);
    let mut buf = Vec::new();
    len_field(3, &inner, &mut buf);
    assert_eq!(specials(&buf).unwrap(), json!({"duration": "1m30s"}));
}

#[test]
fn raw_extension_quantity_and_int_or_string() {
    let mut raw = Vec::new();
    len_field(1, br#"{"a":[1,2]}"#, &mut raw);
    let mut ios = Vec::new();
    varint_field(1, 0, &mut ios);
    varint_field(2, (-5i64) as u64, &mut ios);
    let mut buf = Vec::new();
    len_field(4, &raw, &mut buf);
    // A zero Quantity (no string) prints as "0".
    len_field(5, &[], &mut buf);
    len_field(6, &ios, &mut buf);
    assert_eq!(
        specials(&buf).unwrap(),
        json!({"raw": {"a": [1, 2]}, "quantity": "0", "intOrString": -5})
    );

    let mut bad = Vec::new();
    len_field(1, b"not json", &mut bad);
    let mut buf = Vec::new();
    len_field(4, &bad, &mut buf);
    let err = specials(&buf).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid embedded JSON in io.k8s.apimachinery.pkg.runtime.RawExtension"),
        "{err}"
    );

    let mut ios = Vec::new();
    varint_field(1, 2, &mut ios);
    let mut buf = Vec::new();
    len_field(6, &ios, &mut buf);
    assert!(matches!(
        specials(&buf),
        Err(ProtobufError::InvalidIntOrString { kind: 2 })
    ));
}

#[test]
fn proto_merge_rules() {
    let mut buf = Vec::new();
    // Repeated int32 both unpacked and packed; negative values are ten-byte varints.
    varint_field(8, 1, &mut buf);
    let mut packed = Vec::new();
    encode_varint(2, &mut packed);
    encode_varint((-3i64) as u64, &mut packed);
    len_field(8, &packed, &mut buf);
    // The last occurrence of a scalar wins.
    varint_field(9, 1, &mut buf);
    varint_field(9, 7, &mut buf);
    // Map entries: the last value for a key wins; a missing value is the zero value.
    let mut entry = Vec::new();
    len_field(1, b"cpu", &mut entry);
    len_field(
        2,
        &{
            let mut q = Vec::new();
            len_field(1, b"1", &mut q);
            q
        },
        &mut entry,
    );
    len_field(10, &entry, &mut buf);
    let mut entry = Vec::new();
    len_field(1, b"cpu", &mut entry);
    len_field(
        2,
        &{
            let mut q = Vec::new();
            len_field(1, b"2", &mut q);
            q
        },
        &mut entry,
    );
    len_field(10, &entry, &mut buf);
    let mut entry = Vec::new();
    len_field(1, b"memory", &mut entry);
    len_field(10, &entry, &mut buf);
    // A singular message seen twice is merged: scalars overwritten, lists appended.
    let mut first = Vec::new();
    len_field(1, b"x", &mut first);
    len_field(2, b"one", &mut first);
    let mut second = Vec::new();
    len_field(1, b"y", &mut second);
    len_field(2, b"two", &mut second);
    len_field(11, &first, &mut buf);
    len_field(11, &second, &mut buf);
    // A false non-pointer bool is omitted.
    varint_field(12, 0, &mut buf);
    assert_same_json(
        &specials(&buf).unwrap(),
        &json!({
            "numbers": [1, 2, -3],
            "count": 7,
            "quantities": {"cpu": "2", "memory": "0"},
            "nested": {"a": "y", "list": ["one", "two"]}
        }),
        "merge rules",
    );
}

// ---------------------------------------------------------------------------------------------
// Malformed input

fn namespace_body() -> Vec<u8> {
    envelope(
        "v1",
        "Namespace",
        core::Namespace {
            metadata: go_meta("dev", ""),
            ..Default::default()
        }
        .encode_to_vec(),
    )
}

#[test]
fn rejects_missing_magic() {
    for body in [
        &b""[..],
        b"k8s",
        b"{\"kind\":\"Namespace\"}",
        b"k8x\0\x0a\x00",
    ] {
        let err = decode_object(body).unwrap_err();
        assert!(matches!(err, ProtobufError::MissingMagic));
        assert_eq!(err.to_string(), "missing k8s protobuf magic prefix");
    }
}

#[test]
fn rejects_truncated_input() {
    let raw = core::Namespace {
        metadata: go_meta("dev", ""),
        ..Default::default()
    }
    .encode_to_vec();
    let body = envelope("v1", "Namespace", raw.clone());
    // The envelope ends with the raw field and two empty strings (2 bytes each); any cut
    // inside the raw payload leaves a length that runs past the end.
    let raw_end = body.len() - 4;
    for len in raw_end - raw.len()..raw_end {
        let err = decode_object(&body[..len]).unwrap_err();
        assert!(
            matches!(err, ProtobufError::Truncated { .. }),
            "prefix {len}: {err}"
        );
    }
    let mut body = b"k8s\0".to_vec();
    body.extend([0x12, 0x80]);
    assert_eq!(
        decode_object(&body).unwrap_err().to_string(),
        "truncated varint at byte 5"
    );
    let mut body = b"k8s\0".to_vec();
    body.extend([0x12, 0x05, b'a']);
    assert_eq!(
        decode_object(&body).unwrap_err().to_string(),
        "truncated field at byte 6: 5 bytes needed, 1 left"
    );
}

#[test]
fn rejects_unknown_kind_and_missing_type_meta() {
    let err = decode_object(&envelope("apps/v1", "Foo", vec![])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported kind apps/v1 Foo in protobuf body"
    );
    let err = decode_object(&envelope("", "", vec![])).unwrap_err();
    assert!(matches!(err, ProtobufError::MissingTypeMeta));
}

#[test]
fn rejects_unknown_field_numbers() {
    let mut container = core::Container {
        name: s("app"),
        ..Default::default()
    }
    .encode_to_vec();
    len_field(99, b"surprise", &mut container);
    let mut spec = Vec::new();
    len_field(2, &container, &mut spec);
    let mut pod = Vec::new();
    len_field(2, &spec, &mut pod);
    let err = decode_object(&envelope("v1", "Pod", pod)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported field 99 in io.k8s.api.core.v1.Container"
    );

    // Also inside the special types and map entries.
    let mut meta = Vec::new();
    len_field(
        8,
        &timestamp(1, 0)
            .into_iter()
            .chain([0x18, 0x01])
            .collect::<Vec<_>>(),
        &mut meta,
    );
    let mut ns = Vec::new();
    len_field(1, &meta, &mut ns);
    let err = decode_object(&envelope("v1", "Namespace", ns)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported field 3 in io.k8s.apimachinery.pkg.apis.meta.v1.Time"
    );
    let mut entry = Vec::new();
    len_field(1, b"k", &mut entry);
    len_field(3, b"v", &mut entry);
    let mut cm = Vec::new();
    len_field(2, &entry, &mut cm);
    let err = decode_object(&envelope("v1", "ConfigMap", cm)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported field 3 in a map entry of field 2 in io.k8s.api.core.v1.ConfigMap"
    );
}

#[test]
fn rejects_wrong_wire_types_groups_and_encodings() {
    // ObjectMeta.name (string) sent as a varint.
    let mut meta = Vec::new();
    varint_field(1, 5, &mut meta);
    let mut ns = Vec::new();
    len_field(1, &meta, &mut ns);
    assert_eq!(
        decode_object(&envelope("v1", "Namespace", ns))
            .unwrap_err()
            .to_string(),
        "field 1 in io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta has varint wire type, \
         expected length-delimited"
    );

    // A group (wire type 3) and the non-existent wire type 7.
    for (wire, want) in [
        (3u8, "unsupported protobuf group (field 1) at byte 4"),
        (7u8, "invalid wire type 7 at byte 4"),
    ] {
        let mut body = b"k8s\0".to_vec();
        body.push((1 << 3) | wire);
        assert_eq!(decode_object(&body).unwrap_err().to_string(), want);
    }

    // Field number 0.
    let mut body = b"k8s\0".to_vec();
    body.push(0x02);
    assert!(matches!(
        decode_object(&body),
        Err(ProtobufError::InvalidFieldNumber {
            number: 0,
            offset: 4
        })
    ));

    // A compressed or non-protobuf payload.
    let mut unknown = Unknown::decode(&namespace_body()[4..]).unwrap();
    unknown.content_encoding = s("gzip");
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert!(matches!(
        decode_object(&body),
        Err(ProtobufError::UnsupportedContentEncoding(e)) if e == "gzip"
    ));
    unknown.content_encoding = None;
    unknown.content_type = s("application/json");
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert!(matches!(
        decode_object(&body),
        Err(ProtobufError::UnsupportedContentType(_))
    ));

    // An overlong varint.
    let mut body = b"k8s\0".to_vec();
    body.push(0x08);
    body.extend([0xff; 10]);
    body.push(0x01);
    assert!(matches!(
        decode_object(&body),
        Err(ProtobufError::VarintOverflow { offset: 5 })
    ));
}

#[test]
fn accepts_protobuf_content_type_and_invalid_utf8() {
    let mut unknown = Unknown::decode(&namespace_body()[4..]).unwrap();
    unknown.content_type = s("application/vnd.kubernetes.protobuf");
    let mut body = b"k8s\0".to_vec();
    body.extend(unknown.encode_to_vec());
    assert_eq!(decode_object(&body).unwrap()["metadata"]["name"], "dev");

    // Go's encoding/json replaces invalid UTF-8 with U+FFFD rather than failing.
    let mut meta = Vec::new();
    len_field(1, b"a\xffb", &mut meta);
    let mut ns = Vec::new();
    len_field(1, &meta, &mut ns);
    assert_eq!(
        decode_object(&envelope("v1", "Namespace", ns)).unwrap()["metadata"]["name"],
        "a\u{fffd}b"
    );
}

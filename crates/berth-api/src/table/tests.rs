//! The printers' tests, reached through the kinds' strategies as the API server reaches them.

use super::*;
use crate::kinds::strategy_of as strategy;
use serde_json::json;

fn columns(group: &str, kind: &str) -> Vec<Value> {
    strategy(group, kind).table_columns()
}

fn cells(group: &str, kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    strategy(group, kind).table_cells(obj, now)
}

fn now() -> Timestamp {
    "2024-05-01T12:00:00Z".parse().unwrap()
}

/// A timestamp `secs` seconds before `now()`, in RFC 3339.
fn ago(secs: i64) -> String {
    now()
        .checked_sub(SignedDuration::from_secs(secs))
        .unwrap()
        .to_string()
}

fn hd(secs: i64) -> String {
    human_duration(SignedDuration::from_secs(secs))
}

fn column_names(group: &str, kind: &str) -> Vec<String> {
    columns(group, kind)
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn human_duration_thresholds() {
    assert_eq!(
        human_duration(SignedDuration::from_millis(-2500)),
        "<invalid>"
    );
    assert_eq!(human_duration(SignedDuration::from_millis(-1500)), "0s");
    assert_eq!(hd(0), "0s");
    assert_eq!(hd(5), "5s");
    assert_eq!(hd(119), "119s");
    assert_eq!(hd(120), "2m");
    assert_eq!(hd(182), "3m2s");
    assert_eq!(hd(599), "9m59s");
    assert_eq!(hd(600), "10m");
    assert_eq!(hd(179 * 60 + 59), "179m");
    assert_eq!(hd(3 * 3600), "3h");
    assert_eq!(hd(5 * 3600 + 30 * 60), "5h30m");
    assert_eq!(hd(8 * 3600), "8h");
    assert_eq!(hd(47 * 3600 + 59 * 60), "47h");
    assert_eq!(hd(48 * 3600), "2d");
    assert_eq!(hd(51 * 3600), "2d3h");
    assert_eq!(hd(8 * 24 * 3600), "8d");
    assert_eq!(hd(300 * 24 * 3600), "300d");
    assert_eq!(hd(2 * 365 * 24 * 3600 - 1), "729d");
    assert_eq!(hd(2 * 365 * 24 * 3600), "2y");
    assert_eq!(hd((2 * 365 + 10) * 24 * 3600), "2y10d");
    assert_eq!(hd(8 * 365 * 24 * 3600 + 5 * 24 * 3600), "8y");
}

#[test]
fn every_printer_fills_every_column() {
    let kinds = [
        ("", "Pod"),
        ("", "PodTemplate"),
        ("", "Namespace"),
        ("", "Node"),
        ("", "Service"),
        ("", "Endpoints"),
        ("", "ConfigMap"),
        ("", "Secret"),
        ("", "ServiceAccount"),
        ("", "Event"),
        ("events.k8s.io", "Event"),
        ("", "PersistentVolume"),
        ("", "PersistentVolumeClaim"),
        ("", "ResourceQuota"),
        ("", "ReplicationController"),
        ("apps", "Deployment"),
        ("apps", "ReplicaSet"),
        ("apps", "DaemonSet"),
        ("apps", "StatefulSet"),
        ("apps", "ControllerRevision"),
        ("batch", "Job"),
        ("batch", "CronJob"),
        ("autoscaling", "HorizontalPodAutoscaler"),
        ("networking.k8s.io", "Ingress"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "NetworkPolicy"),
        ("discovery.k8s.io", "EndpointSlice"),
        ("coordination.k8s.io", "Lease"),
        ("storage.k8s.io", "StorageClass"),
        ("policy", "PodDisruptionBudget"),
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "RoleBinding"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("node.k8s.io", "RuntimeClass"),
        (
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
        ),
        ("example.com", "Widget"),
    ];
    let empty = json!({});
    let named = json!({"metadata": {"name": "x", "creationTimestamp": ago(60)}});
    for (group, kind) in kinds {
        let cols = columns(group, kind);
        assert!(cols
            .iter()
            .any(|c| c["name"] == "Name" && c["format"] == "name"));
        for obj in [&empty, &named] {
            assert_eq!(
                cells(group, kind, obj, now()).len(),
                cols.len(),
                "{group}/{kind}"
            );
        }
    }
}

#[test]
fn column_shapes() {
    assert_eq!(
        column_names("", "Pod"),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let pod = columns("", "Pod");
    assert_eq!(pod[0]["format"], "name");
    assert_eq!(pod[4]["priority"], 0);
    assert_eq!(pod[5]["priority"], 1);
    assert_eq!(column_names("example.com", "Widget"), ["Name", "Age"]);
    assert_eq!(
        column_names("rbac.authorization.k8s.io", "ClusterRole"),
        ["Name", "Created At"]
    );
    assert_eq!(
        column_names("apps", "Deployment"),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
}

fn pod_status(pod: &Value) -> Value {
    cells("", "Pod", pod, now())[2].clone()
}

#[test]
fn crash_looping_pod() {
    let pod = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(3600)},
        "spec": {"containers": [{"name": "app"}, {"name": "side"}], "nodeName": "n1"},
        "status": {
            "phase": "Running",
            "podIP": "10.1.0.5",
            "podIPs": [{"ip": "10.1.0.5"}],
            "containerStatuses": [
                {"name": "app", "ready": false, "restartCount": 5,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(300)}}},
                {"name": "side", "ready": true, "restartCount": 0,
                 "state": {"running": {"startedAt": ago(3000)}}}
            ]
        }
    });
    let row = cells("", "Pod", &pod, now());
    assert_eq!(row[0], "web");
    assert_eq!(row[1], "1/2");
    assert_eq!(row[2], "CrashLoopBackOff");
    assert_eq!(row[3], "5 (5m ago)");
    assert_eq!(row[4], "60m");
    assert_eq!(row[5], "10.1.0.5");
    assert_eq!(row[6], "n1");
    assert_eq!(row[7], "<none>");
    assert_eq!(row[8], "<none>");
}

#[test]
fn completed_and_failed_pods() {
    let completed = json!({
        "spec": {"containers": [{"name": "job"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [
            {"name": "job", "ready": false, "restartCount": 0,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}
    });
    assert_eq!(pod_status(&completed), "Completed");
    assert_eq!(cells("", "Pod", &completed, now())[1], "0/1");
    assert_eq!(cells("", "Pod", &completed, now())[3], "0");
    let failed = json!({
        "spec": {"containers": [{"name": "job"}]},
        "status": {"phase": "Failed", "containerStatuses": [
            {"name": "job", "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}
        ]}
    });
    assert_eq!(pod_status(&failed), "Error");
    let no_reason = json!({
        "status": {"phase": "Failed", "containerStatuses": [
            {"name": "job", "state": {"terminated": {"exitCode": 137}}}
        ]}
    });
    assert_eq!(pod_status(&no_reason), "ExitCode:137");
}

#[test]
fn terminating_pod() {
    let pod = json!({
        "metadata": {"name": "p", "deletionTimestamp": ago(10)},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "ready": true, "state": {"running": {}}}
        ]}
    });
    assert_eq!(pod_status(&pod), "Terminating");
    // A finished pod being deleted keeps its terminal status.
    let done = json!({
        "metadata": {"deletionTimestamp": ago(10)},
        "status": {"phase": "Succeeded", "containerStatuses": [
            {"name": "c", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}
    });
    assert_eq!(pod_status(&done), "Completed");
    let failed = json!({
        "metadata": {"deletionTimestamp": ago(10)},
        "status": {"phase": "Failed", "containerStatuses": [
            {"name": "c", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}
        ]}
    });
    assert_eq!(pod_status(&failed), "Error");
    let lost = json!({
        "metadata": {"deletionTimestamp": ago(10)},
        "status": {"phase": "Running", "reason": "NodeLost"}
    });
    assert_eq!(pod_status(&lost), "Unknown");
}

#[test]
fn pending_and_initializing_pods() {
    let creating = json!({
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "containerStatuses": [
            {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}
        ]}
    });
    assert_eq!(pod_status(&creating), "ContainerCreating");
    let init = json!({
        "spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"running": {}}}
        ], "containerStatuses": [
            {"name": "c", "state": {"waiting": {"reason": "PodInitializing"}}}
        ]}
    });
    assert_eq!(pod_status(&init), "Init:0/1");
    let init_crash = json!({
        "spec": {"initContainers": [{"name": "i"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}
    });
    assert_eq!(pod_status(&init_crash), "Init:CrashLoopBackOff");
    let init_failed = json!({
        "spec": {"initContainers": [{"name": "i"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [
            {"name": "i", "state": {"terminated": {"exitCode": 3}}}
        ]}
    });
    assert_eq!(pod_status(&init_failed), "Init:ExitCode:3");
    let pending = json!({"status": {"phase": "Pending"}});
    assert_eq!(pod_status(&pending), "Pending");
}

#[test]
fn sidecars_count_as_containers() {
    let pod = json!({
        "spec": {
            "initContainers": [{"name": "proxy", "restartPolicy": "Always"}],
            "containers": [{"name": "main"}]
        },
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Initialized", "status": "True"}, {"type": "Ready", "status": "False"}],
            "initContainerStatuses": [
                {"name": "proxy", "started": true, "ready": true, "restartCount": 2,
                 "state": {"running": {}}}
            ],
            "containerStatuses": [
                {"name": "main", "ready": false,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
            ]
        }
    });
    let row = cells("", "Pod", &pod, now());
    assert_eq!(row[1], "1/2");
    assert_eq!(row[2], "Completed");
    assert_eq!(row[3], "2");
    // A completed container next to a still-running one does not make the pod "Completed".
    let mixed = json!({
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "a", "ready": true, "state": {"running": {}}},
            {"name": "b", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}
        ]}
    });
    assert_eq!(pod_status(&mixed), "NotReady");
    let mut ready = mixed.clone();
    ready["status"]["conditions"] = json!([{"type": "Ready", "status": "True"}]);
    assert_eq!(pod_status(&ready), "Running");
}

#[test]
fn deployment_ready_column() {
    let d = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(2 * 86400 + 3 * 3600)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [
                {"name": "nginx", "image": "nginx:1.25"},
                {"name": "log", "image": "busybox"}
            ]}}
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    let row = cells("apps", "Deployment", &d, now());
    assert_eq!(
        row,
        vec![
            json!("web"),
            json!("2/3"),
            json!(3),
            json!(2),
            json!("2d3h"),
            json!("nginx,log"),
            json!("nginx:1.25,busybox"),
            json!("app=web")
        ]
    );
    // Nothing ready yet and replicas defaulted.
    let fresh = json!({"metadata": {"name": "x"}, "spec": {}});
    assert_eq!(cells("apps", "Deployment", &fresh, now())[1], "0/1");
}

#[test]
fn node_status_and_roles() {
    let node = json!({
        "metadata": {"name": "n1", "labels": {
            "node-role.kubernetes.io/control-plane": "",
            "kubernetes.io/role": "master"
        }},
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "Ready", "status": "False"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}],
            "nodeInfo": {"kubeletVersion": "v1.33.0", "osImage": "Debian"}
        }
    });
    let row = cells("", "Node", &node, now());
    assert_eq!(row[1], "NotReady,SchedulingDisabled");
    assert_eq!(row[2], "control-plane,master");
    assert_eq!(row[3], "<unknown>");
    assert_eq!(row[4], "v1.33.0");
    assert_eq!(row[5], "192.168.1.10");
    assert_eq!(row[6], "<none>");
    assert_eq!(row[7], "Debian");
    assert_eq!(row[8], "<unknown>");
    let bare = cells("", "Node", &json!({}), now());
    assert_eq!(bare[1], "Unknown");
    assert_eq!(bare[2], "<none>");
}

#[test]
fn service_columns() {
    let svc = json!({
        "metadata": {"name": "web"},
        "spec": {
            "type": "NodePort",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "selector": {"b": "2", "a": "1"}
        }
    });
    let row = cells("", "Service", &svc, now());
    assert_eq!(row[1], "NodePort");
    assert_eq!(row[2], "10.96.0.10");
    assert_eq!(row[3], "<none>");
    assert_eq!(row[4], "80:30080/TCP,53/UDP");
    assert_eq!(row[6], "a=1,b=2");
    let lb = json!({"spec": {"type": "LoadBalancer", "clusterIP": "None", "ports": []}});
    let row = cells("", "Service", &lb, now());
    assert_eq!(row[2], "None");
    assert_eq!(row[3], "<pending>");
    assert_eq!(row[4], "<none>");
    assert_eq!(row[6], "<none>");
    let lb_ready = json!({"spec": {"type": "LoadBalancer"},
        "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example"}]}}});
    assert_eq!(
        cells("", "Service", &lb_ready, now())[3],
        "1.2.3.4,lb.example"
    );
}

#[test]
fn job_and_cron_job() {
    let job = json!({
        "metadata": {"name": "j"},
        "spec": {"completions": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
        "status": {
            "succeeded": 1, "startTime": ago(100), "completionTime": ago(40),
            "conditions": [{"type": "Complete", "status": "True"}]
        }
    });
    let row = cells("batch", "Job", &job, now());
    assert_eq!(row[1], "Complete");
    assert_eq!(row[2], "1/1");
    assert_eq!(row[3], "60s");
    let running = json!({"spec": {"parallelism": 3}, "status": {"startTime": ago(30)}});
    let row = cells("batch", "Job", &running, now());
    assert_eq!(row[1], "Running");
    assert_eq!(row[2], "0/1 of 3");
    assert_eq!(row[3], "30s");
    let suspended = json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    assert_eq!(cells("batch", "Job", &suspended, now())[1], "Suspended");
    let cj = json!({"spec": {"schedule": "*/5 * * * *", "suspend": false},
        "status": {"active": [{"name": "a"}], "lastScheduleTime": ago(120)}});
    let row = cells("batch", "CronJob", &cj, now());
    assert_eq!(
        &row[1..6],
        &[
            json!("*/5 * * * *"),
            json!("<none>"),
            json!("False"),
            json!(1),
            json!("2m")
        ]
    );
}

#[test]
fn event_columns() {
    let ev = json!({
        "metadata": {"name": "web.17a"},
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff", "type": "Warning", "message": " Back-off restarting \n",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": ago(600), "lastTimestamp": ago(30), "count": 7
    });
    let row = cells("", "Event", &ev, now());
    assert_eq!(row[0], "30s");
    assert_eq!(row[1], "Warning");
    assert_eq!(row[2], "BackOff");
    assert_eq!(row[3], "pod/web");
    assert_eq!(row[4], "spec.containers{app}");
    assert_eq!(row[5], "kubelet, n1");
    assert_eq!(row[6], "Back-off restarting");
    assert_eq!(row[7], "10m");
    assert_eq!(row[8], 7);
    assert_eq!(row[9], "web.17a");
    let new_style = json!({
        "regarding": {"kind": "Node", "name": "n1"}, "note": "hello",
        "reportingController": "ctl", "eventTime": ago(5)
    });
    let row = cells("events.k8s.io", "Event", &new_style, now());
    assert_eq!(row[0], "5s");
    assert_eq!(row[3], "node/n1");
    assert_eq!(row[5], "ctl");
    assert_eq!(row[6], "hello");
    assert_eq!(row[8], 1);
}

#[test]
fn storage_and_config_kinds() {
    let pvc = json!({"spec": {"volumeName": "pv1", "storageClassName": "fast"},
        "status": {"phase": "Bound", "capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteOnce"]}});
    let row = cells("", "PersistentVolumeClaim", &pvc, now());
    assert_eq!(
        &row[1..7],
        &[
            json!("Bound"),
            json!("pv1"),
            json!("1Gi"),
            json!("RWO"),
            json!("fast"),
            json!("<unset>")
        ]
    );
    let sc = json!({"metadata": {"name": "std", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "rancher.io/local-path"});
    let row = cells("storage.k8s.io", "StorageClass", &sc, now());
    assert_eq!(
        &row[..5],
        &[
            json!("std (default)"),
            json!("rancher.io/local-path"),
            json!("Delete"),
            json!("Immediate"),
            json!(false)
        ]
    );
    let cm = json!({"data": {"a": "1", "b": "2"}, "binaryData": {"c": ""}});
    assert_eq!(cells("", "ConfigMap", &cm, now())[1], 3);
    let secret = json!({"type": "Opaque", "data": {"a": "MQ=="}});
    assert_eq!(
        &cells("", "Secret", &secret, now())[1..3],
        &[json!("Opaque"), json!(1)]
    );
    let rq = json!({"status": {"hard": {"requests.cpu": "1", "limits.memory": "2Gi", "pods": "10"},
        "used": {"requests.cpu": "500m", "pods": "3"}}});
    let row = cells("", "ResourceQuota", &rq, now());
    assert_eq!(row[1], "pods: 3/10, requests.cpu: 500m/1");
    assert_eq!(row[2], "limits.memory: 0/2Gi");
}

#[test]
fn created_at_for_roles() {
    let role = json!({"metadata": {"name": "r", "creationTimestamp": "2024-01-02T03:04:05Z"}});
    let row = cells("rbac.authorization.k8s.io", "Role", &role, now());
    assert_eq!(row, vec![json!("r"), json!("2024-01-02T03:04:05Z")]);
    let rb = json!({"roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [
        {"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "namespace": "ns", "name": "sa"}]});
    let row = cells("rbac.authorization.k8s.io", "RoleBinding", &rb, now());
    assert_eq!(row[1], "ClusterRole/view");
    assert_eq!(row[3], "alice");
    assert_eq!(row[5], "ns/sa");
}

#[test]
fn hpa_targets_column() {
    let hpa = json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5,
    "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1024Mi"}}},
        {"type": "Pods", "pods": {"target": {"averageValue": "1k"}}}
    ]},
    "status": {"currentReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}
    ]}});
    let row = cells("autoscaling", "HorizontalPodAutoscaler", &hpa, now());
    assert_eq!(row[1], "Deployment/web");
    assert_eq!(row[2], "cpu: 40%/80%, memory: <unknown>/1Gi + 1 more...");
    assert_eq!(&row[3..6], &[json!("1"), json!(5), json!(2)]);
    let v1 = json!({"spec": {"targetCPUUtilizationPercentage": 50}});
    assert_eq!(
        cells("autoscaling", "HorizontalPodAutoscaler", &v1, now())[2],
        "cpu: <unknown>/50%"
    );
}

#[test]
fn endpoints_and_ingress() {
    let ep = json!({"subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}, {"ip": "10.0.0.4"}],
        "ports": [{"port": 8080}]}]});
    assert_eq!(
        cells("", "Endpoints", &ep, now())[1],
        "10.0.0.1:8080,10.0.0.2:8080,[fd00::3]:8080 + 1 more..."
    );
    assert_eq!(cells("", "Endpoints", &json!({}), now())[1], "<none>");
    let ing = json!({"spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example"}, {}], "tls": [{}]}});
    let row = cells("networking.k8s.io", "Ingress", &ing, now());
    assert_eq!(
        &row[1..5],
        &[
            json!("nginx"),
            json!("a.example"),
            json!(""),
            json!("80, 443")
        ]
    );
}

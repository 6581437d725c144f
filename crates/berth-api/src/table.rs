//! Server-side printing for `kubectl get`: the column definitions and row cells of the
//! `meta.k8s.io/v1` Table for each built-in kind.
//!
//! Columns and cell formatting follow Kubernetes' `pkg/printers/internalversion/printers.go`
//! so output looks exactly like a real cluster's. As the Kubernetes apiserver does, rows are
//! always generated "wide": every cell is present and kubectl hides the `priority: 1` columns
//! unless `-o wide` is given. Kinds without a dedicated printer get Name and Age.
//!
//! Objects are read leniently (missing fields print as Kubernetes prints zero values) because
//! a printer must never fail a list request.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value};

use crate::quantity::Quantity;
use crate::selector::LabelSelector;

/// Column definitions (JSON objects `{name, type, format, description, priority}`) for
/// `(group, kind)`; priority 1 marks columns shown only with `-o wide`.
pub fn columns(group: &str, kind: &str) -> Vec<Value> {
    printer(group, kind)
        .columns
        .iter()
        .map(Column::to_json)
        .collect()
}

/// The cells for one object, in column order, as JSON strings, integers or booleans the way
/// Kubernetes prints them. Ages are computed relative to `now`.
pub fn cells(group: &str, kind: &str, obj: &Value, now: Timestamp) -> Vec<Value> {
    (printer(group, kind).cells)(obj, now)
}

/// A succinct, human-readable duration with about two significant figures, exactly as
/// `k8s.io/apimachinery/pkg/util/duration.HumanDuration` renders it ("5s", "3m2s", "10m",
/// "5h", "2d3h", "300d", "2y10d", "10y"). Up to one second into the future counts as now
/// (clock skew); further ahead is "<invalid>".
pub fn human_duration(d: SignedDuration) -> String {
    const SECOND: i128 = 1_000_000_000;
    let nanos = d.as_nanos();
    // Integer division truncates toward zero, like Go's int(d.Seconds()) and d / time.Minute.
    let seconds = nanos / SECOND;
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / (60 * SECOND);
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / (3600 * SECOND);
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

// ---------------------------------------------------------------------------------------------
// Column definitions
// ---------------------------------------------------------------------------------------------

struct Column {
    name: &'static str,
    ty: &'static str,
    format: &'static str,
    priority: u8,
    description: &'static str,
}

impl Column {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("type".into(), self.ty.into());
        m.insert("format".into(), self.format.into());
        m.insert("description".into(), self.description.into());
        m.insert("priority".into(), self.priority.into());
        Value::Object(m)
    }
}

const fn c(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 0,
        description,
    }
}

/// A column kubectl shows only with `-o wide`.
const fn w(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column {
        name,
        ty,
        format: "",
        priority: 1,
        description,
    }
}

// The ObjectMeta field documentation Kubernetes uses for these two columns of every kind.
const NAME_DOC: &str = "Name must be unique within a namespace. Is required when creating \
resources, although some resources may allow a client to request the generation of an \
appropriate name automatically. Name is primarily intended for creation idempotence and \
configuration definition. Cannot be updated. More info: \
https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DOC: &str = "CreationTimestamp is a timestamp representing the server time when \
this object was created. It is not guaranteed to be set in happens-before order across \
separate operations. Clients may not set this value. It is represented in RFC3339 form and is \
in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: \
https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DOC: &str = "Names of each container in the template.";
const IMAGES_DOC: &str = "Images referenced by each container in the template.";

const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    priority: 0,
    description: NAME_DOC,
};
const AGE: Column = c("Age", "string", CREATED_DOC);

const DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];
const CREATED_AT_COLUMNS: &[Column] = &[
    NAME,
    Column {
        name: "Created At",
        ty: "date",
        format: "",
        priority: 0,
        description: CREATED_DOC,
    },
];

const POD_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Ready",
        "string",
        "The aggregate readiness state of this pod for accepting traffic.",
    ),
    c(
        "Status",
        "string",
        "The aggregate status of the containers in this pod.",
    ),
    c(
        "Restarts",
        "string",
        "The number of times the containers in this pod have been restarted and when the last \
         container in this pod has restarted.",
    ),
    AGE,
    w("IP", "string", "podIP address allocated to the pod."),
    w(
        "Node",
        "string",
        "NodeName is the node the pod is scheduled onto.",
    ),
    w(
        "Nominated Node",
        "string",
        "nominatedNodeName is set when this pod preempts other pods on the node.",
    ),
    w(
        "Readiness Gates",
        "string",
        "If specified, all readiness gates will be evaluated for pod readiness.",
    ),
];

const POD_TEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    c("Containers", "string", CONTAINERS_DOC),
    c("Images", "string", IMAGES_DOC),
    c("Pod Labels", "string", "The labels for the pod template."),
];

const NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "The status of the namespace"),
    AGE,
];

const NODE_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "The status of the node"),
    c("Roles", "string", "The roles of the node"),
    AGE,
    c("Version", "string", "Kubelet Version reported by the node."),
    w(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    w(
        "External-IP",
        "string",
        "List of addresses reachable to the node.",
    ),
    w(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release.",
    ),
    w(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r'.",
    ),
    w(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API.",
    ),
];

const SERVICE_COLUMNS: &[Column] = &[
    NAME,
    c("Type", "string", "type determines how the Service is exposed."),
    c("Cluster-IP", "string", "clusterIP is the IP address of the service."),
    c("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
    c("Port(s)", "string", "The list of ports that are exposed by this service."),
    AGE,
    w("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
];

const ENDPOINTS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Endpoints",
        "string",
        "The set of all endpoints is the union of all subsets.",
    ),
    AGE,
];

const ENDPOINT_SLICE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "AddressType",
        "string",
        "addressType specifies the type of address carried by this EndpointSlice.",
    ),
    c(
        "Ports",
        "string",
        "ports specifies the list of network ports exposed by each endpoint in this slice.",
    ),
    c(
        "Endpoints",
        "string",
        "endpoints is a list of unique endpoints in this slice.",
    ),
    AGE,
];

const CONFIG_MAP_COLUMNS: &[Column] = &[
    NAME,
    c("Data", "string", "Data contains the configuration data."),
    AGE,
];

const SECRET_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    c("Data", "string", "Data contains the secret data."),
    AGE,
];

const SERVICE_ACCOUNT_COLUMNS: &[Column] = &[
    NAME,
    c("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
    AGE,
];

const EVENT_COLUMNS: &[Column] = &[
    c("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded."),
    c("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
    c("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
    c("Object", "string", "The object that this event is about."),
    w("Subobject", "string", "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement."),
    w("Source", "string", "The component reporting this event."),
    c("Message", "string", "A human-readable description of the status of this operation."),
    w("First Seen", "string", "The time at which the event was first recorded."),
    w("Count", "string", "The number of times this event has occurred."),
    Column {
        name: "Name",
        ty: "string",
        format: "name",
        priority: 1,
        description: NAME_DOC,
    },
];

const PV_COLUMNS: &[Column] = &[
    NAME,
    c("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity."),
    c("Access Modes", "string", "accessModes contains all ways the volume can be mounted."),
    c("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim."),
    c("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim."),
    c("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim."),
    c("StorageClass", "string", "StorageClass of the pv"),
    c("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
    c("Reason", "string", "reason is a brief CamelCase string that describes any failure."),
    AGE,
    w("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state."),
];

const PVC_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Status",
        "string",
        "phase represents the current phase of PersistentVolumeClaim.",
    ),
    c(
        "Volume",
        "string",
        "volumeName is the binding reference to the PersistentVolume backing this claim.",
    ),
    c(
        "Capacity",
        "string",
        "capacity represents the actual resources of the underlying volume.",
    ),
    c(
        "Access Modes",
        "string",
        "accessModes contains the actual access modes the volume backing the PVC has.",
    ),
    c("StorageClass", "string", "StorageClass of the pvc"),
    c(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    w(
        "VolumeMode",
        "string",
        "volumeMode defines what type of volume is required by the claim.",
    ),
];

const RESOURCE_QUOTA_COLUMNS: &[Column] = &[
    NAME,
    c("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
    c("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
    AGE,
];

const REPLICATION_CONTROLLER_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    c(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    c(
        "Ready",
        "integer",
        "The number of ready replicas for this replication controller.",
    ),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the Replicas count.",
    ),
];

const REPLICA_SET_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas.",
    ),
    c(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    c(
        "Ready",
        "integer",
        "The number of ready replicas for this replica set.",
    ),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the replica count.",
    ),
];

const DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    c("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
    c("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w("Selector", "string", "Label selector for pods."),
];

const DAEMON_SET_COLUMNS: &[Column] = &[
    NAME,
    c("Desired", "integer", "The total number of nodes that should be running the daemon pod."),
    c("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
    c("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
    c("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
    c("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available."),
    c("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w("Selector", "string", "A label query over pods that are managed by the daemon set."),
];

const STATEFUL_SET_COLUMNS: &[Column] = &[
    NAME,
    c("Ready", "string", "Number of the pod with ready state"),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
];

const CONTROLLER_REVISION_COLUMNS: &[Column] = &[
    NAME,
    c("Controller", "string", "Controller of the object"),
    c(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

const JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Status", "string", "Status of the job."),
    c(
        "Completions",
        "string",
        "The number of pods which reached phase Succeeded.",
    ),
    c("Duration", "string", "Time required to complete the job."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w(
        "Selector",
        "string",
        "A label query over pods that should match the pod count.",
    ),
];

const CRON_JOB_COLUMNS: &[Column] = &[
    NAME,
    c("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
    c("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
    c("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions."),
    c("Active", "integer", "A list of pointers to currently running jobs."),
    c("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
    AGE,
    w("Containers", "string", CONTAINERS_DOC),
    w("Images", "string", IMAGES_DOC),
    w("Selector", "string", "A label query over pods that should match the pod count."),
];

const HPA_COLUMNS: &[Column] = &[
    NAME,
    c("Reference", "string", "reference to scaled resource; horizontal pod autoscaler will learn the current resource consumption and will set the desired number of pods by using its Scale subresource."),
    c("Targets", "string", "metrics contains the specifications for which to use to calculate the desired replica count."),
    c("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down."),
    c("MaxPods", "string", "maxReplicas is the upper limit for the number of replicas to which the autoscaler can scale up."),
    c("Replicas", "string", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
    AGE,
];

const INGRESS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    c(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    c(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    c("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

const INGRESS_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    c(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

const NETWORK_POLICY_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Pod-Selector",
        "string",
        "podSelector selects the pods to which this NetworkPolicy object applies.",
    ),
    AGE,
];

const LEASE_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

const STORAGE_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Provisioner", "string", "provisioner indicates the type of the provisioner."),
    c("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class."),
    c("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound."),
    c("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand."),
    AGE,
];

const PDB_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    c(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    c(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

const ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace."),
    AGE,
    w("Users", "string", "Users in the roleBinding"),
    w("Groups", "string", "Groups in the roleBinding"),
    w("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

const CLUSTER_ROLE_BINDING_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace.",
    ),
    AGE,
    w("Users", "string", "Users in the clusterRoleBinding"),
    w("Groups", "string", "Groups in the clusterRoleBinding"),
    w(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

const PRIORITY_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Value", "integer", "value represents the integer value of this priority class."),
    c("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class."),
    AGE,
    c("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority."),
];

const CSR_COLUMNS: &[Column] = &[
    NAME,
    AGE,
    c("SignerName", "string", "Requested signer for the request."),
    c(
        "Requestor",
        "string",
        "Name of the user that created the request.",
    ),
    c(
        "RequestedDuration",
        "string",
        "Requested duration of validity of the issued certificate.",
    ),
    c("Condition", "string", "Conditions applied to the request."),
];

const RUNTIME_CLASS_COLUMNS: &[Column] = &[
    NAME,
    c("Handler", "string", "handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class."),
    AGE,
];

const WEBHOOK_CONFIG_COLUMNS: &[Column] = &[
    NAME,
    c(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

type CellsFn = fn(&Value, Timestamp) -> Vec<Value>;

struct Printer {
    columns: &'static [Column],
    cells: CellsFn,
}

fn printer(group: &str, kind: &str) -> Printer {
    let p = |columns: &'static [Column], cells: CellsFn| Printer { columns, cells };
    match (group, kind) {
        ("", "Pod") => p(POD_COLUMNS, pod_cells),
        ("", "PodTemplate") => p(POD_TEMPLATE_COLUMNS, pod_template_cells),
        ("", "Namespace") => p(NAMESPACE_COLUMNS, namespace_cells),
        ("", "Node") => p(NODE_COLUMNS, node_cells),
        ("", "Service") => p(SERVICE_COLUMNS, service_cells),
        ("", "Endpoints") => p(ENDPOINTS_COLUMNS, endpoints_cells),
        ("", "ConfigMap") => p(CONFIG_MAP_COLUMNS, config_map_cells),
        ("", "Secret") => p(SECRET_COLUMNS, secret_cells),
        ("", "ServiceAccount") => p(SERVICE_ACCOUNT_COLUMNS, service_account_cells),
        ("", "Event") | ("events.k8s.io", "Event") => p(EVENT_COLUMNS, event_cells),
        ("", "PersistentVolume") => p(PV_COLUMNS, pv_cells),
        ("", "PersistentVolumeClaim") => p(PVC_COLUMNS, pvc_cells),
        ("", "ResourceQuota") => p(RESOURCE_QUOTA_COLUMNS, resource_quota_cells),
        ("", "ReplicationController") => p(REPLICATION_CONTROLLER_COLUMNS, rc_cells),
        ("apps", "Deployment") => p(DEPLOYMENT_COLUMNS, deployment_cells),
        ("apps", "ReplicaSet") => p(REPLICA_SET_COLUMNS, replica_set_cells),
        ("apps", "DaemonSet") => p(DAEMON_SET_COLUMNS, daemon_set_cells),
        ("apps", "StatefulSet") => p(STATEFUL_SET_COLUMNS, stateful_set_cells),
        ("apps", "ControllerRevision") => p(CONTROLLER_REVISION_COLUMNS, controller_revision_cells),
        ("batch", "Job") => p(JOB_COLUMNS, job_cells),
        ("batch", "CronJob") => p(CRON_JOB_COLUMNS, cron_job_cells),
        ("autoscaling", "HorizontalPodAutoscaler") => p(HPA_COLUMNS, hpa_cells),
        ("networking.k8s.io", "Ingress") => p(INGRESS_COLUMNS, ingress_cells),
        ("networking.k8s.io", "IngressClass") => p(INGRESS_CLASS_COLUMNS, ingress_class_cells),
        ("networking.k8s.io", "NetworkPolicy") => p(NETWORK_POLICY_COLUMNS, network_policy_cells),
        ("discovery.k8s.io", "EndpointSlice") => p(ENDPOINT_SLICE_COLUMNS, endpoint_slice_cells),
        ("coordination.k8s.io", "Lease") => p(LEASE_COLUMNS, lease_cells),
        ("storage.k8s.io", "StorageClass") => p(STORAGE_CLASS_COLUMNS, storage_class_cells),
        ("policy", "PodDisruptionBudget") => p(PDB_COLUMNS, pdb_cells),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => {
            p(CREATED_AT_COLUMNS, created_at_cells)
        }
        ("rbac.authorization.k8s.io", "RoleBinding") => p(ROLE_BINDING_COLUMNS, role_binding_cells),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
            p(CLUSTER_ROLE_BINDING_COLUMNS, role_binding_cells)
        }
        ("scheduling.k8s.io", "PriorityClass") => p(PRIORITY_CLASS_COLUMNS, priority_class_cells),
        ("certificates.k8s.io", "CertificateSigningRequest") => p(CSR_COLUMNS, csr_cells),
        ("node.k8s.io", "RuntimeClass") => p(RUNTIME_CLASS_COLUMNS, runtime_class_cells),
        (
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration",
        ) => p(WEBHOOK_CONFIG_COLUMNS, webhook_config_cells),
        _ => p(DEFAULT_COLUMNS, default_cells),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON access helpers: absent or mistyped fields read as Go zero values.
// ---------------------------------------------------------------------------------------------

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn boolean(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).and_then(Value::as_bool).unwrap_or(false)
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn map<'a>(v: &'a Value, ptr: &str) -> Option<&'a Map<String, Value>> {
    v.pointer(ptr).and_then(Value::as_object)
}

/// Whether a pointer field is set, i.e. present and not `null` (Go's `!= nil`).
fn present(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr).is_some_and(|x| !x.is_null())
}

fn timestamp(v: &Value, ptr: &str) -> Option<Timestamp> {
    s(v, ptr).parse().ok()
}

/// `translateTimestampSince`: the age of a timestamp, "<unknown>" when unset.
fn since(t: Option<Timestamp>, now: Timestamp) -> String {
    match t {
        Some(t) => human_duration(now.duration_since(t)),
        None => "<unknown>".to_string(),
    }
}

fn name(obj: &Value) -> Value {
    s(obj, "/metadata/name").into()
}

fn age(obj: &Value, now: Timestamp) -> Value {
    since(timestamp(obj, "/metadata/creationTimestamp"), now).into()
}

fn or_none(v: &str) -> String {
    if v.is_empty() {
        "<none>".to_string()
    } else {
        v.to_string()
    }
}

/// `labels.FormatLabels`: sorted `k=v` pairs, "<none>" when empty.
fn format_labels(labels: Option<&Map<String, Value>>) -> String {
    let mut pairs: Vec<String> = labels
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
        .collect();
    pairs.sort();
    or_none(&pairs.join(","))
}

/// `metav1.FormatLabelSelector`: canonical selector string, "<none>" when empty or unset.
fn format_label_selector(selector: Option<&Value>) -> String {
    match selector {
        None | Some(Value::Null) => "<none>".to_string(),
        Some(sel) => match LabelSelector::from_json(sel) {
            Ok(sel) => or_none(&sel.to_string()),
            Err(_) => "<error>".to_string(),
        },
    }
}

/// `layoutContainerCells`: container names and images, comma-joined.
fn containers_and_images(containers: &[Value]) -> (Value, Value) {
    let names: Vec<&str> = containers.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = containers.iter().map(|c| s(c, "/image")).collect();
    (names.join(",").into(), images.join(",").into())
}

/// `Quantity.String()` of a possibly-unset non-pointer quantity (unset prints as "0").
fn quantity(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "0".to_string(),
        Some(v) => quantity_text(v),
    }
}

/// `(*Quantity).String()` of a pointer quantity (unset prints as "<nil>").
fn quantity_ptr(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "<nil>".to_string(),
        Some(v) => quantity_text(v),
    }
}

fn quantity_text(v: &Value) -> String {
    match Quantity::from_json(v) {
        Ok(q) => q.to_string(),
        // A stored value that is not a quantity is shown as written rather than hidden.
        Err(_) => v.as_str().map_or_else(|| v.to_string(), str::to_string),
    }
}

/// An IntOrString as Go's `IntOrString.String()` prints it.
fn int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn has_condition(obj: &Value, ty: &str, status: &str) -> bool {
    arr(obj, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == ty && s(c, "/status") == status)
}

/// "+ N more..." truncation shared by several list-valued cells.
fn list_with_more(list: &[String], more: bool, count: usize, max: usize, empty: &str) -> String {
    let ret = list.join(",");
    if more {
        return format!("{ret} + {} more...", count.saturating_sub(max));
    }
    if ret.is_empty() {
        empty.to_string()
    } else {
        ret
    }
}

fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Load-balancer ingress points (IP, else hostname), sorted and deduplicated.
fn load_balancer_ingress(obj: &Value, ptr: &str) -> String {
    let mut points: Vec<&str> = arr(obj, ptr)
        .iter()
        .filter_map(|i| {
            let ip = s(i, "/ip");
            let host = s(i, "/hostname");
            if !ip.is_empty() {
                Some(ip)
            } else if !host.is_empty() {
                Some(host)
            } else {
                None
            }
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    points.join(",")
}

// ---------------------------------------------------------------------------------------------
// Cells, one function per printer
// ---------------------------------------------------------------------------------------------

fn default_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), age(obj, now)]
}

/// The default table convertor's "Created At": RFC 3339 in UTC, Go's zero time when unset.
fn created_at_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let created = timestamp(obj, "/metadata/creationTimestamp")
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
    vec![name(obj), created.into()]
}

/// Keep the later of two optional times (Go's `lastRestartDate.Before(&t)` update).
fn keep_latest(slot: &mut Option<Timestamp>, t: Option<Timestamp>) {
    if let Some(t) = t {
        if slot.is_none_or(|cur| cur < t) {
            *slot = Some(t);
        }
    }
}

fn last_termination(status: &Value) -> Option<Timestamp> {
    timestamp(status, "/lastState/terminated/finishedAt")
}

/// `Signal:N` / `ExitCode:N` for a terminated container that gave no reason.
fn exit_description(terminated: &Value) -> String {
    let signal = int(terminated, "/signal");
    if signal != 0 {
        format!("Signal:{signal}")
    } else {
        format!("ExitCode:{}", int(terminated, "/exitCode"))
    }
}

fn pod_cells(pod: &Value, now: Timestamp) -> Vec<Value> {
    let init_specs = arr(pod, "/spec/initContainers");
    // Sidecars (init containers with restartPolicy Always) keep running and count as containers.
    let is_sidecar = |name: &str| {
        init_specs
            .iter()
            .any(|c| s(c, "/name") == name && s(c, "/restartPolicy") == "Always")
    };
    let total = arr(pod, "/spec/containers").len()
        + init_specs
            .iter()
            .filter(|c| s(c, "/restartPolicy") == "Always")
            .count();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<Timestamp> = None;
    let mut last_sidecar_restart: Option<Timestamp> = None;

    let phase = s(pod, "/status/phase");
    let mut reason = match s(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    if arr(pod, "/status/conditions")
        .iter()
        .any(|c| s(c, "/type") == "PodScheduled" && s(c, "/reason") == "SchedulingGated")
    {
        reason = "SchedulingGated".to_string();
    }

    // Init containers run in order; the first one not done determines the status.
    let mut initializing = false;
    for (i, status) in arr(pod, "/status/initContainerStatuses").iter().enumerate() {
        let count = int(status, "/restartCount");
        restarts += count;
        keep_latest(&mut last_restart, last_termination(status));
        let sidecar = is_sidecar(s(status, "/name"));
        if sidecar {
            sidecar_restarts += count;
            keep_latest(&mut last_sidecar_restart, last_termination(status));
        }
        let terminated = status
            .pointer("/state/terminated")
            .filter(|t| t.is_object());
        let waiting_reason = s(status, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if sidecar && boolean(status, "/started") {
            if boolean(status, "/ready") {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = terminated {
            match s(t, "/reason") {
                "" => format!("Init:{}", exit_description(t)),
                r => format!("Init:{r}"),
            }
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{}", init_specs.len())
        };
        initializing = true;
        break;
    }

    if !initializing || has_condition(pod, "Initialized", "True") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        // Walk backwards so the first container's state wins, as kubectl does.
        for status in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += int(status, "/restartCount");
            keep_latest(&mut last_restart, last_termination(status));
            let waiting_reason = s(status, "/state/waiting/reason");
            let terminated = status
                .pointer("/state/terminated")
                .filter(|t| t.is_object());
            if !waiting_reason.is_empty() {
                reason = waiting_reason.to_string();
            } else if let Some(t) = terminated {
                reason = match s(t, "/reason") {
                    "" => exit_description(t),
                    r => r.to_string(),
                };
            } else if boolean(status, "/ready") && present(status, "/state/running") {
                has_running = true;
                ready += 1;
            }
        }
        // A pod whose main container completed but a sidecar still runs is not "Completed".
        if reason == "Completed" && has_running {
            reason = if has_condition(pod, "Ready", "True") {
                "Running".to_string()
            } else {
                "NotReady".to_string()
            };
        }
    }

    if present(pod, "/metadata/deletionTimestamp") {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".to_string();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".to_string();
        }
    }

    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", since(Some(t), now)),
        _ => restarts.to_string(),
    };

    let pod_ip = match s(pod, "/status/podIPs/0/ip") {
        "" => s(pod, "/status/podIP"),
        ip => ip,
    };
    let gates = arr(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let satisfied = gates
            .iter()
            .filter(|g| {
                let ty = s(g, "/conditionType");
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == ty)
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{satisfied}/{}", gates.len())
    };
    vec![
        name(pod),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        age(pod, now),
        or_none(pod_ip).into(),
        or_none(s(pod, "/spec/nodeName")).into(),
        or_none(s(pod, "/status/nominatedNodeName")).into(),
        readiness_gates.into(),
    ]
}

fn pod_template_cells(obj: &Value, _now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/template/spec/containers"));
    vec![
        name(obj),
        names,
        images,
        format_labels(map(obj, "/template/metadata/labels")).into(),
    ]
}

fn namespace_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), s(obj, "/status/phase").into(), age(obj, now)]
}

fn node_cells(node: &Value, now: Timestamp) -> Vec<Value> {
    // Kubernetes indexes conditions by type, so the last Ready condition wins.
    let ready = arr(node, "/status/conditions")
        .iter()
        .rev()
        .find(|c| s(c, "/type") == "Ready");
    let mut status = vec![match ready {
        Some(c) if s(c, "/status") == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if boolean(node, "/spec/unschedulable") {
        status.push("SchedulingDisabled");
    }
    let mut roles: Vec<&str> = map(node, "/metadata/labels")
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then_some(role)
            } else if k == "kubernetes.io/role" {
                v.as_str().filter(|r| !r.is_empty())
            } else {
                None
            }
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    let address = |ty: &str| {
        arr(node, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == ty)
            .map_or_else(|| "<none>".to_string(), |a| s(a, "/address").to_string())
    };
    let info = |field: &str| match s(node, &format!("/status/nodeInfo/{field}")) {
        "" => "<unknown>".to_string(),
        v => v.to_string(),
    };
    vec![
        name(node),
        status.join(",").into(),
        or_none(&roles.join(",")).into(),
        age(node, now),
        s(node, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        info("osImage").into(),
        info("kernelVersion").into(),
        info("containerRuntimeVersion").into(),
    ]
}

fn service_cells(svc: &Value, now: Timestamp) -> Vec<Value> {
    let ty = match s(svc, "/spec/type") {
        "" => "ClusterIP",
        t => t,
    };
    let cluster_ip = match s(svc, "/spec/clusterIPs/0") {
        "" => or_none(s(svc, "/spec/clusterIP")),
        ip => ip.to_string(),
    };
    let external_ips: Vec<&str> = arr(svc, "/spec/externalIPs")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let external = match ty {
        "ClusterIP" | "NodePort" => or_none(&external_ips.join(",")),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(svc, "/status/loadBalancer/ingress");
            if !external_ips.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external_ips.iter().copied());
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_string()
            }
        }
        "ExternalName" => s(svc, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(svc, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = match s(p, "/protocol") {
                "" => "TCP",
                proto => proto,
            };
            let port = int(p, "/port");
            match int(p, "/nodePort") {
                n if n > 0 => format!("{port}:{n}/{protocol}"),
                _ => format!("{port}/{protocol}"),
            }
        })
        .collect();
    vec![
        name(svc),
        ty.into(),
        cluster_ip.into(),
        external.into(),
        or_none(&ports.join(",")).into(),
        age(svc, now),
        format_labels(map(svc, "/spec/selector")).into(),
    ]
}

fn endpoints_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), format_endpoints(obj).into(), age(obj, now)]
}

/// `formatEndpoints`: up to three ready `ip:port` pairs, then "+ N more...".
fn format_endpoints(obj: &Value) -> String {
    let subsets = arr(obj, "/subsets");
    if subsets.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 3;
    let mut list = Vec::new();
    let mut more = false;
    let mut count = 0;
    for subset in subsets {
        let addresses = arr(subset, "/addresses");
        let ports = arr(subset, "/ports");
        if ports.is_empty() {
            // Headless services may have no ports: list bare IPs.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(s(a, "/ip").to_string());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(s(a, "/ip"), int(port, "/port")));
            }
        }
    }
    list_with_more(&list, more, count, MAX, "")
}

fn endpoint_slice_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let port_list: Vec<String> = arr(obj, "/ports")
        .iter()
        .map(|p| match p.get("port").and_then(Value::as_i64) {
            Some(n) => n.to_string(),
            None => p
                .get("name")
                .and_then(Value::as_str)
                .map_or_else(|| "*".to_string(), str::to_string),
        })
        .collect();
    let ports = list_with_more(
        &port_list[..port_list.len().min(MAX)],
        port_list.len() > MAX,
        port_list.len(),
        MAX,
        "<unset>",
    );
    let addresses: Vec<String> = arr(obj, "/endpoints")
        .iter()
        .flat_map(|e| arr(e, "/addresses"))
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect();
    let endpoints = list_with_more(
        &addresses[..addresses.len().min(MAX)],
        addresses.len() > MAX,
        addresses.len(),
        MAX,
        "<unset>",
    );
    vec![
        name(obj),
        s(obj, "/addressType").into(),
        ports.into(),
        endpoints.into(),
        age(obj, now),
    ]
}

fn len_of(obj: &Value, ptr: &str) -> i64 {
    match obj.pointer(ptr) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn config_map_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let data = len_of(obj, "/data") + len_of(obj, "/binaryData");
    vec![name(obj), data.into(), age(obj, now)]
}

fn secret_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        s(obj, "/type").into(),
        len_of(obj, "/data").into(),
        age(obj, now),
    ]
}

fn service_account_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), len_of(obj, "/secrets").into(), age(obj, now)]
}

/// Read an Event field by its `core/v1` name, falling back to its `events.k8s.io/v1` name, so
/// one printer serves both APIs (Kubernetes converts both to one internal type to print).
fn event_str<'a>(ev: &'a Value, core: &str, events: &str) -> &'a str {
    match s(ev, core) {
        "" => s(ev, events),
        v => v,
    }
}

fn event_cells(ev: &Value, now: Timestamp) -> Vec<Value> {
    let stamp = |core: &str, events: &str| timestamp(ev, core).or_else(|| timestamp(ev, events));
    let first_seen = match stamp("/firstTimestamp", "/deprecatedFirstTimestamp") {
        Some(t) => since(Some(t), now),
        None => since(timestamp(ev, "/eventTime"), now),
    };
    let mut last_seen = match stamp("/lastTimestamp", "/deprecatedLastTimestamp") {
        Some(t) => since(Some(t), now),
        None => first_seen.clone(),
    };
    let mut count = match int(ev, "/count") {
        0 => int(ev, "/deprecatedCount"),
        n => n,
    };
    if present(ev, "/series") {
        last_seen = since(timestamp(ev, "/series/lastObservedTime"), now);
        count = int(ev, "/series/count");
    } else if count == 0 {
        // Singleton events don't have a count set in the new API.
        count = 1;
    }
    let kind = event_str(ev, "/involvedObject/kind", "/regarding/kind").to_lowercase();
    let object_name = event_str(ev, "/involvedObject/name", "/regarding/name");
    let target = if object_name.is_empty() {
        kind
    } else {
        format!("{kind}/{object_name}")
    };
    let component = [
        s(ev, "/source/component"),
        s(ev, "/deprecatedSource/component"),
        s(ev, "/reportingComponent"),
        s(ev, "/reportingController"),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or("");
    let host = [
        s(ev, "/source/host"),
        s(ev, "/deprecatedSource/host"),
        s(ev, "/reportingInstance"),
    ]
    .into_iter()
    .find(|v| !v.is_empty())
    .unwrap_or("");
    let source = if host.is_empty() {
        component.to_string()
    } else {
        format!("{component}, {host}")
    };
    vec![
        last_seen.into(),
        s(ev, "/type").into(),
        s(ev, "/reason").into(),
        target.into(),
        event_str(ev, "/involvedObject/fieldPath", "/regarding/fieldPath").into(),
        source.into(),
        event_str(ev, "/message", "/note").trim().into(),
        first_seen.into(),
        count.into(),
        name(ev),
    ]
}

/// `GetAccessModesAsString`: RWO, ROX, RWX, RWOP in that fixed order.
fn access_modes(modes: &[Value]) -> String {
    let has = |m: &str| modes.iter().any(|v| v.as_str() == Some(m));
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| has(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The beta annotation still overrides the field, as in Kubernetes' storage class helpers.
fn storage_class_of(obj: &Value) -> &str {
    let beta = map(obj, "/metadata/annotations")
        .and_then(|a| a.get("volume.beta.kubernetes.io/storage-class"))
        .and_then(Value::as_str);
    match beta {
        Some(class) => class,
        None => s(obj, "/spec/storageClassName"),
    }
}

fn terminating_phase(obj: &Value) -> &str {
    if present(obj, "/metadata/deletionTimestamp") {
        "Terminating"
    } else {
        s(obj, "/status/phase")
    }
}

fn unset_or(v: &str) -> String {
    if v.is_empty() {
        "<unset>".to_string()
    } else {
        v.to_string()
    }
}

fn pv_cells(pv: &Value, now: Timestamp) -> Vec<Value> {
    let claim = if present(pv, "/spec/claimRef") {
        format!(
            "{}/{}",
            s(pv, "/spec/claimRef/namespace"),
            s(pv, "/spec/claimRef/name")
        )
    } else {
        String::new()
    };
    vec![
        name(pv),
        quantity(pv.pointer("/spec/capacity/storage")).into(),
        access_modes(arr(pv, "/spec/accessModes")).into(),
        s(pv, "/spec/persistentVolumeReclaimPolicy").into(),
        terminating_phase(pv).into(),
        claim.into(),
        storage_class_of(pv).into(),
        unset_or(s(pv, "/spec/volumeAttributesClassName")).into(),
        s(pv, "/status/reason").into(),
        age(pv, now),
        unset_or(s(pv, "/spec/volumeMode")).into(),
    ]
}

fn pvc_cells(pvc: &Value, now: Timestamp) -> Vec<Value> {
    let volume = s(pvc, "/spec/volumeName");
    // Capacity and modes are only meaningful once bound to a volume.
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(pvc.pointer("/status/capacity/storage")),
            access_modes(arr(pvc, "/status/accessModes")),
        )
    };
    vec![
        name(pvc),
        terminating_phase(pvc).into(),
        volume.into(),
        capacity.into(),
        modes.into(),
        storage_class_of(pvc).into(),
        unset_or(s(pvc, "/spec/volumeAttributesClassName")).into(),
        age(pvc, now),
        unset_or(s(pvc, "/spec/volumeMode")).into(),
    ]
}

fn resource_quota_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let mut resources: Vec<&String> = map(obj, "/status/hard")
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let mut requests = Vec::new();
    let mut limits = Vec::new();
    for resource in resources {
        let used = quantity(
            obj.pointer("/status/used")
                .and_then(|u| u.get(resource.as_str())),
        );
        let hard = quantity(
            obj.pointer("/status/hard")
                .and_then(|h| h.get(resource.as_str())),
        );
        let entry = format!("{resource}: {used}/{hard}");
        let mut pieces = resource.split('.');
        if pieces.next() == Some("limits") && pieces.next().is_some() {
            limits.push(entry);
        } else {
            requests.push(entry);
        }
    }
    vec![
        name(obj),
        requests.join(", ").into(),
        limits.join(", ").into(),
        age(obj, now),
    ]
}

/// Workload replica counts default to 1 when unset, as API defaulting would have set them.
fn desired_replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn rc_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_labels(map(obj, "/spec/selector")).into(),
    ]
}

fn replica_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        desired_replicas(obj).into(),
        int(obj, "/status/replicas").into(),
        int(obj, "/status/readyReplicas").into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ]
}

fn deployment_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    // printDeployment prints the bare selector string (empty when unset), not "<none>".
    let selector = match obj.pointer("/spec/selector") {
        None | Some(Value::Null) => String::new(),
        Some(sel) => LabelSelector::from_json(sel)
            .map_or_else(|_| "<invalid>".to_string(), |sel| sel.to_string()),
    };
    vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        int(obj, "/status/updatedReplicas").into(),
        int(obj, "/status/availableReplicas").into(),
        age(obj, now),
        names,
        images,
        selector.into(),
    ]
}

fn daemon_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        int(obj, "/status/desiredNumberScheduled").into(),
        int(obj, "/status/currentNumberScheduled").into(),
        int(obj, "/status/numberReady").into(),
        int(obj, "/status/updatedNumberScheduled").into(),
        int(obj, "/status/numberAvailable").into(),
        format_labels(map(obj, "/spec/template/spec/nodeSelector")).into(),
        age(obj, now),
        names,
        images,
        format_label_selector(obj.pointer("/spec/selector")).into(),
    ]
}

fn stateful_set_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let (names, images) = containers_and_images(arr(obj, "/spec/template/spec/containers"));
    vec![
        name(obj),
        format!(
            "{}/{}",
            int(obj, "/status/readyReplicas"),
            desired_replicas(obj)
        )
        .into(),
        age(obj, now),
        names,
        images,
    ]
}

fn controller_revision_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let owner = arr(obj, "/metadata/ownerReferences")
        .iter()
        .find(|r| boolean(r, "/controller"));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            // "statefulset.apps/web": lower-cased Kind.group, the group taken from apiVersion.
            let api_version = s(r, "/apiVersion");
            let group = match api_version.split_once('/') {
                Some((group, _)) => group,
                None => "",
            };
            let kind = s(r, "/kind");
            let resource_name = s(r, "/name");
            let group_kind = if group.is_empty() {
                kind.to_string()
            } else {
                format!("{kind}.{group}")
            };
            if group_kind.is_empty() {
                resource_name.to_string()
            } else {
                format!("{}/{resource_name}", group_kind.to_lowercase())
            }
        }
    };
    vec![
        name(obj),
        controller.into(),
        int(obj, "/revision").into(),
        age(obj, now),
    ]
}

/// `hasJobCondition`: the first condition of the type decides.
fn job_condition(obj: &Value, ty: &str) -> bool {
    arr(obj, "/status/conditions")
        .iter()
        .find(|c| s(c, "/type") == ty)
        .is_some_and(|c| s(c, "/status") == "True")
}

fn job_cells(job: &Value, now: Timestamp) -> Vec<Value> {
    let succeeded = int(job, "/status/succeeded");
    let completions = match job.pointer("/spec/completions").and_then(Value::as_i64) {
        Some(n) => format!("{succeeded}/{n}"),
        None => match int(job, "/spec/parallelism") {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    };
    let duration = match (
        timestamp(job, "/status/startTime"),
        timestamp(job, "/status/completionTime"),
    ) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now.duration_since(start)),
        (Some(start), Some(end)) => human_duration(end.duration_since(start)),
    };
    let status = if job_condition(job, "Complete") {
        "Complete"
    } else if job_condition(job, "Failed") {
        "Failed"
    } else if present(job, "/metadata/deletionTimestamp") {
        "Terminating"
    } else if job_condition(job, "Suspended") {
        "Suspended"
    } else if job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    };
    let (names, images) = containers_and_images(arr(job, "/spec/template/spec/containers"));
    vec![
        name(job),
        status.into(),
        completions.into(),
        duration.into(),
        age(job, now),
        names,
        images,
        format_label_selector(job.pointer("/spec/selector")).into(),
    ]
}

fn cron_job_cells(cj: &Value, now: Timestamp) -> Vec<Value> {
    let last_schedule = match timestamp(cj, "/status/lastScheduleTime") {
        Some(t) => since(Some(t), now),
        None => "<none>".to_string(),
    };
    let time_zone = match cj.pointer("/spec/timeZone").and_then(Value::as_str) {
        Some(tz) => tz.to_string(),
        None => "<none>".to_string(),
    };
    let suspend = match cj.pointer("/spec/suspend").and_then(Value::as_bool) {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    };
    let (names, images) =
        containers_and_images(arr(cj, "/spec/jobTemplate/spec/template/spec/containers"));
    vec![
        name(cj),
        s(cj, "/spec/schedule").into(),
        time_zone.into(),
        suspend.into(),
        len_of(cj, "/status/active").into(),
        last_schedule.into(),
        age(cj, now),
        names,
        images,
        format_label_selector(cj.pointer("/spec/jobTemplate/spec/selector")).into(),
    ]
}

/// HPA metric specs and statuses in `autoscaling/v2` shape; an `autoscaling/v1` object's CPU
/// target is converted the way Kubernetes converts it.
fn hpa_metrics(hpa: &Value) -> (Vec<Value>, Vec<Value>) {
    if let Some(specs) = hpa.pointer("/spec/metrics").and_then(Value::as_array) {
        return (specs.clone(), arr(hpa, "/status/currentMetrics").to_vec());
    }
    let Some(target) = hpa
        .pointer("/spec/targetCPUUtilizationPercentage")
        .filter(|v| !v.is_null())
    else {
        return (Vec::new(), Vec::new());
    };
    let spec = serde_json::json!({
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target}}
    });
    let statuses = match hpa
        .pointer("/status/currentCPUUtilizationPercentage")
        .filter(|v| !v.is_null())
    {
        Some(current) => vec![serde_json::json!({
            "type": "Resource",
            "resource": {"name": "cpu", "current": {"averageUtilization": current}}
        })],
        None => Vec::new(),
    };
    (vec![spec], statuses)
}

/// `formatHPAMetrics`: "cpu: 40%/80%, memory: 1Gi/2Gi + 1 more...".
fn hpa_targets(hpa: &Value) -> String {
    let (specs, statuses) = hpa_metrics(hpa);
    if specs.is_empty() {
        return "<none>".to_string();
    }
    const MAX: usize = 2;
    let mut list = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        let status = statuses.get(i);
        // The status entry for the same source, if the HPA has reported it.
        let current = |source: &str| {
            status
                .and_then(|st| st.get(source))
                .filter(|v| !v.is_null())
        };
        let entry = match s(spec, "/type") {
            ty @ ("External" | "Object") => {
                let source = if ty == "External" {
                    "external"
                } else {
                    "object"
                };
                let target = spec.get(source).cloned().unwrap_or(Value::Null);
                if present(&target, "/target/averageValue") {
                    let cur = current(source)
                        .and_then(|c| c.pointer("/current/averageValue"))
                        .filter(|v| !v.is_null())
                        .map_or_else(|| "<unknown>".to_string(), quantity_text);
                    format!(
                        "{cur}/{} (avg)",
                        quantity_ptr(target.pointer("/target/averageValue"))
                    )
                } else {
                    let cur = current(source).map_or_else(
                        || "<unknown>".to_string(),
                        |c| quantity_ptr(c.pointer("/current/value")),
                    );
                    format!("{cur}/{}", quantity_ptr(target.pointer("/target/value")))
                }
            }
            "Pods" => {
                let cur = current("pods").map_or_else(
                    || "<unknown>".to_string(),
                    |c| quantity_ptr(c.pointer("/current/averageValue")),
                );
                format!(
                    "{cur}/{}",
                    quantity_ptr(spec.pointer("/pods/target/averageValue"))
                )
            }
            ty @ ("Resource" | "ContainerResource") => {
                let source = if ty == "Resource" {
                    "resource"
                } else {
                    "containerResource"
                };
                let resource = s(spec, &format!("/{source}/name"));
                let target = spec.get(source).cloned().unwrap_or(Value::Null);
                if present(&target, "/target/averageValue") {
                    let cur = current(source).map_or_else(
                        || "<unknown>".to_string(),
                        |c| quantity_ptr(c.pointer("/current/averageValue")),
                    );
                    format!(
                        "{resource}: {cur}/{}",
                        quantity_ptr(target.pointer("/target/averageValue"))
                    )
                } else {
                    let cur = current(source)
                        .and_then(|c| c.pointer("/current/averageUtilization"))
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<unknown>".to_string(), |u| format!("{u}%"));
                    let goal = target
                        .pointer("/target/averageUtilization")
                        .and_then(Value::as_i64)
                        .map_or_else(|| "<auto>".to_string(), |u| format!("{u}%"));
                    format!("{resource}: {cur}/{goal}")
                }
            }
            _ => "<unknown type>".to_string(),
        };
        list.push(entry);
    }
    let count = list.len();
    if count > MAX {
        list.truncate(MAX);
        return format!("{} + {} more...", list.join(", "), count - MAX);
    }
    list.join(", ")
}

fn hpa_cells(hpa: &Value, now: Timestamp) -> Vec<Value> {
    let reference = format!(
        "{}/{}",
        s(hpa, "/spec/scaleTargetRef/kind"),
        s(hpa, "/spec/scaleTargetRef/name")
    );
    let min_pods = hpa
        .pointer("/spec/minReplicas")
        .and_then(Value::as_i64)
        .map_or_else(|| "<unset>".to_string(), |n| n.to_string());
    vec![
        name(hpa),
        reference.into(),
        hpa_targets(hpa).into(),
        min_pods.into(),
        int(hpa, "/spec/maxReplicas").into(),
        int(hpa, "/status/currentReplicas").into(),
        age(hpa, now),
    ]
}

fn ingress_cells(ing: &Value, now: Timestamp) -> Vec<Value> {
    const MAX: usize = 3;
    let rules = arr(ing, "/spec/rules");
    let mut hosts = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == MAX {
            more = true;
        }
        let host = s(rule, "/host");
        if !more && !host.is_empty() {
            hosts.push(host.to_string());
        }
    }
    let hosts = if hosts.is_empty() {
        "*".to_string()
    } else if more {
        format!("{} + {} more...", hosts.join(","), rules.len() - MAX)
    } else {
        hosts.join(",")
    };
    let class = ing
        .pointer("/spec/ingressClassName")
        .and_then(Value::as_str)
        .map_or_else(|| "<none>".to_string(), str::to_string);
    let ports = if arr(ing, "/spec/tls").is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        name(ing),
        class.into(),
        hosts.into(),
        load_balancer_ingress(ing, "/status/loadBalancer/ingress").into(),
        ports.into(),
        age(ing, now),
    ]
}

fn ingress_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let parameters = match obj.pointer("/spec/parameters").filter(|p| p.is_object()) {
        None => "<none>".to_string(),
        Some(p) => {
            let mut kind = s(p, "/kind").to_string();
            if let Some(group) = p.get("apiGroup").and_then(Value::as_str) {
                kind = format!("{kind}.{group}");
            }
            format!("{kind}/{}", s(p, "/name"))
        }
    };
    vec![
        name(obj),
        s(obj, "/spec/controller").into(),
        parameters.into(),
        age(obj, now),
    ]
}

fn network_policy_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    // podSelector is a struct, not a pointer, in Kubernetes: unset means "all pods", "<none>".
    let selector = match obj.pointer("/spec/podSelector") {
        None | Some(Value::Null) => "<none>".to_string(),
        some => format_label_selector(some),
    };
    vec![name(obj), selector.into(), age(obj, now)]
}

fn lease_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        s(obj, "/spec/holderIdentity").into(),
        age(obj, now),
    ]
}

fn storage_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let annotation = |key: &str| {
        map(obj, "/metadata/annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
            == Some("true")
    };
    let mut display_name = s(obj, "/metadata/name").to_string();
    if annotation("storageclass.kubernetes.io/is-default-class")
        || annotation("storageclass.beta.kubernetes.io/is-default-class")
    {
        display_name.push_str(" (default)");
    }
    let reclaim = match s(obj, "/reclaimPolicy") {
        "" => "Delete",
        p => p,
    };
    let binding = match s(obj, "/volumeBindingMode") {
        "" => "Immediate",
        m => m,
    };
    vec![
        display_name.into(),
        s(obj, "/provisioner").into(),
        reclaim.into(),
        binding.into(),
        boolean(obj, "/allowVolumeExpansion").into(),
        age(obj, now),
    ]
}

fn pdb_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let bound = |ptr: &str| match obj.pointer(ptr) {
        None | Some(Value::Null) => "N/A".to_string(),
        Some(v) => int_or_string(v),
    };
    vec![
        name(obj),
        bound("/spec/minAvailable").into(),
        bound("/spec/maxUnavailable").into(),
        int(obj, "/status/disruptionsAllowed").into(),
        age(obj, now),
    ]
}

fn role_binding_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let role = format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"));
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(obj, "/subjects") {
        match s(subject, "/kind") {
            "User" => users.push(s(subject, "/name").to_string()),
            "Group" => groups.push(s(subject, "/name").to_string()),
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                s(subject, "/namespace"),
                s(subject, "/name")
            )),
            _ => {}
        }
    }
    vec![
        name(obj),
        role.into(),
        age(obj, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

fn priority_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![
        name(obj),
        int(obj, "/value").into(),
        boolean(obj, "/globalDefault").into(),
        age(obj, now),
        s(obj, "/preemptionPolicy").into(),
    ]
}

fn csr_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    let conditions = arr(obj, "/status/conditions");
    let has = |ty: &str| conditions.iter().any(|c| s(c, "/type") == ty);
    let mut condition = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        condition.push_str(",Failed");
    }
    if !s(obj, "/status/certificate").is_empty() {
        condition.push_str(",Issued");
    }
    let requested = obj
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .map_or_else(
            || "<none>".to_string(),
            |secs| human_duration(SignedDuration::from_secs(secs)),
        );
    vec![
        name(obj),
        age(obj, now),
        or_none(s(obj, "/spec/signerName")).into(),
        s(obj, "/spec/username").into(),
        requested.into(),
        condition.into(),
    ]
}

fn runtime_class_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), s(obj, "/handler").into(), age(obj, now)]
}

fn webhook_config_cells(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![name(obj), len_of(obj, "/webhooks").into(), age(obj, now)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        let suspended =
            json!({"status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
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
}

//! Message descriptors for the core group (`v1`): Namespace, ConfigMap, Secret, ServiceAccount, Service, Pod and
//! ResourceQuota, and everything a PodSpec contains (containers, probes, volumes of every kind,
//! affinity, security contexts, ...).
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{inline, map, nz, opt, rep, Kind::*, Message};
use super::meta_v1;

/// `io.k8s.api.core.v1.Affinity`.
pub(crate) static AFFINITY: Message = Message {
    name: "io.k8s.api.core.v1.Affinity",
    fields: &[
        opt(1, "nodeAffinity", Msg(&NODE_AFFINITY)),
        opt(2, "podAffinity", Msg(&POD_AFFINITY)),
        opt(3, "podAntiAffinity", Msg(&POD_ANTI_AFFINITY)),
    ],
};

/// `io.k8s.api.core.v1.AppArmorProfile`.
pub(crate) static APP_ARMOR_PROFILE: Message = Message {
    name: "io.k8s.api.core.v1.AppArmorProfile",
    fields: &[opt(1, "type", Str), opt(2, "localhostProfile", Str)],
};

/// `io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource`.
pub(crate) static AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.AWSElasticBlockStoreVolumeSource",
    fields: &[
        opt(1, "volumeID", Str),
        nz(2, "fsType", Str),
        nz(3, "partition", I32),
        nz(4, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.AzureDiskVolumeSource`.
pub(crate) static AZURE_DISK_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.AzureDiskVolumeSource",
    fields: &[
        opt(1, "diskName", Str),
        opt(2, "diskURI", Str),
        opt(3, "cachingMode", Str),
        opt(4, "fsType", Str),
        opt(5, "readOnly", Bool),
        opt(6, "kind", Str),
    ],
};

/// `io.k8s.api.core.v1.AzureFileVolumeSource`.
pub(crate) static AZURE_FILE_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.AzureFileVolumeSource",
    fields: &[
        opt(1, "secretName", Str),
        opt(2, "shareName", Str),
        nz(3, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.CSIVolumeSource`.
pub(crate) static CSI_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.CSIVolumeSource",
    fields: &[
        opt(1, "driver", Str),
        opt(2, "readOnly", Bool),
        opt(3, "fsType", Str),
        map(4, "volumeAttributes", Str),
        opt(5, "nodePublishSecretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.core.v1.Capabilities`.
pub(crate) static CAPABILITIES: Message = Message {
    name: "io.k8s.api.core.v1.Capabilities",
    fields: &[rep(1, "add", Str), rep(2, "drop", Str)],
};

/// `io.k8s.api.core.v1.CephFSVolumeSource`.
pub(crate) static CEPH_FS_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.CephFSVolumeSource",
    fields: &[
        rep(1, "monitors", Str),
        nz(2, "path", Str),
        nz(3, "user", Str),
        nz(4, "secretFile", Str),
        opt(5, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
        nz(6, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.CinderVolumeSource`.
pub(crate) static CINDER_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.CinderVolumeSource",
    fields: &[
        opt(1, "volumeID", Str),
        nz(2, "fsType", Str),
        nz(3, "readOnly", Bool),
        opt(4, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.core.v1.ClientIPConfig`.
pub(crate) static CLIENT_IP_CONFIG: Message = Message {
    name: "io.k8s.api.core.v1.ClientIPConfig",
    fields: &[opt(1, "timeoutSeconds", I32)],
};

/// `io.k8s.api.core.v1.ClusterTrustBundleProjection`.
pub(crate) static CLUSTER_TRUST_BUNDLE_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.ClusterTrustBundleProjection",
    fields: &[
        opt(1, "name", Str),
        opt(2, "signerName", Str),
        opt(3, "labelSelector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(5, "optional", Bool),
        opt(4, "path", Str),
    ],
};

/// `io.k8s.api.core.v1.ConfigMap`.
pub(crate) static CONFIG_MAP: Message = Message {
    name: "io.k8s.api.core.v1.ConfigMap",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(4, "immutable", Bool),
        map(2, "data", Str),
        map(3, "binaryData", Bytes),
    ],
};

/// `io.k8s.api.core.v1.ConfigMapEnvSource`.
pub(crate) static CONFIG_MAP_ENV_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ConfigMapEnvSource",
    fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), opt(2, "optional", Bool)],
};

/// `io.k8s.api.core.v1.ConfigMapKeySelector`.
pub(crate) static CONFIG_MAP_KEY_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.ConfigMapKeySelector",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        opt(2, "key", Str),
        opt(3, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.ConfigMapProjection`.
pub(crate) static CONFIG_MAP_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.ConfigMapProjection",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.ConfigMapVolumeSource`.
pub(crate) static CONFIG_MAP_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ConfigMapVolumeSource",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.Container`.
pub(crate) static CONTAINER: Message = Message {
    name: "io.k8s.api.core.v1.Container",
    fields: &[
        opt(1, "name", Str),
        nz(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        nz(5, "workingDir", Str),
        rep(6, "ports", Msg(&CONTAINER_PORT)),
        rep(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        rep(7, "env", Msg(&ENV_VAR)),
        opt(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        rep(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        opt(24, "restartPolicy", Str),
        rep(25, "restartPolicyRules", Msg(&CONTAINER_RESTART_RULE)),
        rep(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        rep(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        opt(10, "livenessProbe", Msg(&PROBE)),
        opt(11, "readinessProbe", Msg(&PROBE)),
        opt(22, "startupProbe", Msg(&PROBE)),
        opt(12, "lifecycle", Msg(&LIFECYCLE)),
        nz(13, "terminationMessagePath", Str),
        nz(20, "terminationMessagePolicy", Str),
        nz(14, "imagePullPolicy", Str),
        opt(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        nz(16, "stdin", Bool),
        nz(17, "stdinOnce", Bool),
        nz(18, "tty", Bool),
    ],
};

/// `io.k8s.api.core.v1.ContainerExtendedResourceRequest`.
pub(crate) static CONTAINER_EXTENDED_RESOURCE_REQUEST: Message = Message {
    name: "io.k8s.api.core.v1.ContainerExtendedResourceRequest",
    fields: &[
        opt(1, "containerName", Str),
        opt(2, "resourceName", Str),
        opt(3, "requestName", Str),
    ],
};

/// `io.k8s.api.core.v1.ContainerPort`.
pub(crate) static CONTAINER_PORT: Message = Message {
    name: "io.k8s.api.core.v1.ContainerPort",
    fields: &[
        nz(1, "name", Str),
        nz(2, "hostPort", I32),
        opt(3, "containerPort", I32),
        nz(4, "protocol", Str),
        nz(5, "hostIP", Str),
    ],
};

/// `io.k8s.api.core.v1.ContainerResizePolicy`.
pub(crate) static CONTAINER_RESIZE_POLICY: Message = Message {
    name: "io.k8s.api.core.v1.ContainerResizePolicy",
    fields: &[opt(1, "resourceName", Str), opt(2, "restartPolicy", Str)],
};

/// `io.k8s.api.core.v1.ContainerRestartRule`.
pub(crate) static CONTAINER_RESTART_RULE: Message = Message {
    name: "io.k8s.api.core.v1.ContainerRestartRule",
    fields: &[
        nz(1, "action", Str),
        opt(2, "exitCodes", Msg(&CONTAINER_RESTART_RULE_ON_EXIT_CODES)),
    ],
};

/// `io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes`.
pub(crate) static CONTAINER_RESTART_RULE_ON_EXIT_CODES: Message = Message {
    name: "io.k8s.api.core.v1.ContainerRestartRuleOnExitCodes",
    fields: &[nz(1, "operator", Str), rep(2, "values", I32)],
};

/// `io.k8s.api.core.v1.ContainerState`.
pub(crate) static CONTAINER_STATE: Message = Message {
    name: "io.k8s.api.core.v1.ContainerState",
    fields: &[
        opt(1, "waiting", Msg(&CONTAINER_STATE_WAITING)),
        opt(2, "running", Msg(&CONTAINER_STATE_RUNNING)),
        opt(3, "terminated", Msg(&CONTAINER_STATE_TERMINATED)),
    ],
};

/// `io.k8s.api.core.v1.ContainerStateRunning`.
pub(crate) static CONTAINER_STATE_RUNNING: Message = Message {
    name: "io.k8s.api.core.v1.ContainerStateRunning",
    fields: &[opt(1, "startedAt", Time)],
};

/// `io.k8s.api.core.v1.ContainerStateTerminated`.
pub(crate) static CONTAINER_STATE_TERMINATED: Message = Message {
    name: "io.k8s.api.core.v1.ContainerStateTerminated",
    fields: &[
        opt(1, "exitCode", I32),
        nz(2, "signal", I32),
        nz(3, "reason", Str),
        nz(4, "message", Str),
        opt(5, "startedAt", Time),
        opt(6, "finishedAt", Time),
        nz(7, "containerID", Str),
    ],
};

/// `io.k8s.api.core.v1.ContainerStateWaiting`.
pub(crate) static CONTAINER_STATE_WAITING: Message = Message {
    name: "io.k8s.api.core.v1.ContainerStateWaiting",
    fields: &[nz(1, "reason", Str), nz(2, "message", Str)],
};

/// `io.k8s.api.core.v1.ContainerStatus`.
pub(crate) static CONTAINER_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.ContainerStatus",
    fields: &[
        opt(1, "name", Str),
        opt(2, "state", Msg(&CONTAINER_STATE)),
        opt(3, "lastState", Msg(&CONTAINER_STATE)),
        opt(4, "ready", Bool),
        opt(5, "restartCount", I32),
        opt(6, "image", Str),
        opt(7, "imageID", Str),
        nz(8, "containerID", Str),
        opt(9, "started", Bool),
        map(10, "allocatedResources", Quantity),
        opt(11, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        rep(12, "volumeMounts", Msg(&VOLUME_MOUNT_STATUS)),
        opt(13, "user", Msg(&CONTAINER_USER)),
        rep(14, "allocatedResourcesStatus", Msg(&RESOURCE_STATUS)),
        opt(15, "stopSignal", Str),
    ],
};

/// `io.k8s.api.core.v1.ContainerUser`.
pub(crate) static CONTAINER_USER: Message = Message {
    name: "io.k8s.api.core.v1.ContainerUser",
    fields: &[opt(1, "linux", Msg(&LINUX_CONTAINER_USER))],
};

/// `io.k8s.api.core.v1.DownwardAPIProjection`.
pub(crate) static DOWNWARD_API_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.DownwardAPIProjection",
    fields: &[rep(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE))],
};

/// `io.k8s.api.core.v1.DownwardAPIVolumeFile`.
pub(crate) static DOWNWARD_API_VOLUME_FILE: Message = Message {
    name: "io.k8s.api.core.v1.DownwardAPIVolumeFile",
    fields: &[
        opt(1, "path", Str),
        opt(2, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        opt(3, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        opt(4, "mode", I32),
    ],
};

/// `io.k8s.api.core.v1.DownwardAPIVolumeSource`.
pub(crate) static DOWNWARD_API_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.DownwardAPIVolumeSource",
    fields: &[
        rep(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE)),
        opt(2, "defaultMode", I32),
    ],
};

/// `io.k8s.api.core.v1.EmptyDirVolumeSource`.
pub(crate) static EMPTY_DIR_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.EmptyDirVolumeSource",
    fields: &[nz(1, "medium", Str), opt(2, "sizeLimit", Quantity)],
};

/// `io.k8s.api.core.v1.EnvFromSource`.
pub(crate) static ENV_FROM_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.EnvFromSource",
    fields: &[
        nz(1, "prefix", Str),
        opt(2, "configMapRef", Msg(&CONFIG_MAP_ENV_SOURCE)),
        opt(3, "secretRef", Msg(&SECRET_ENV_SOURCE)),
    ],
};

/// `io.k8s.api.core.v1.EnvVar`.
pub(crate) static ENV_VAR: Message = Message {
    name: "io.k8s.api.core.v1.EnvVar",
    fields: &[
        opt(1, "name", Str),
        nz(2, "value", Str),
        opt(3, "valueFrom", Msg(&ENV_VAR_SOURCE)),
    ],
};

/// `io.k8s.api.core.v1.EnvVarSource`.
pub(crate) static ENV_VAR_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.EnvVarSource",
    fields: &[
        opt(1, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        opt(2, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        opt(3, "configMapKeyRef", Msg(&CONFIG_MAP_KEY_SELECTOR)),
        opt(4, "secretKeyRef", Msg(&SECRET_KEY_SELECTOR)),
        opt(5, "fileKeyRef", Msg(&FILE_KEY_SELECTOR)),
    ],
};

/// `io.k8s.api.core.v1.EphemeralContainer`.
pub(crate) static EPHEMERAL_CONTAINER: Message = Message {
    name: "io.k8s.api.core.v1.EphemeralContainer",
    fields: &[
        inline(1, &EPHEMERAL_CONTAINER_COMMON),
        nz(2, "targetContainerName", Str),
    ],
};

/// `io.k8s.api.core.v1.EphemeralContainerCommon`.
pub(crate) static EPHEMERAL_CONTAINER_COMMON: Message = Message {
    name: "io.k8s.api.core.v1.EphemeralContainerCommon",
    fields: &[
        opt(1, "name", Str),
        nz(2, "image", Str),
        rep(3, "command", Str),
        rep(4, "args", Str),
        nz(5, "workingDir", Str),
        rep(6, "ports", Msg(&CONTAINER_PORT)),
        rep(19, "envFrom", Msg(&ENV_FROM_SOURCE)),
        rep(7, "env", Msg(&ENV_VAR)),
        opt(8, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        rep(23, "resizePolicy", Msg(&CONTAINER_RESIZE_POLICY)),
        opt(24, "restartPolicy", Str),
        rep(25, "restartPolicyRules", Msg(&CONTAINER_RESTART_RULE)),
        rep(9, "volumeMounts", Msg(&VOLUME_MOUNT)),
        rep(21, "volumeDevices", Msg(&VOLUME_DEVICE)),
        opt(10, "livenessProbe", Msg(&PROBE)),
        opt(11, "readinessProbe", Msg(&PROBE)),
        opt(22, "startupProbe", Msg(&PROBE)),
        opt(12, "lifecycle", Msg(&LIFECYCLE)),
        nz(13, "terminationMessagePath", Str),
        nz(20, "terminationMessagePolicy", Str),
        nz(14, "imagePullPolicy", Str),
        opt(15, "securityContext", Msg(&SECURITY_CONTEXT)),
        nz(16, "stdin", Bool),
        nz(17, "stdinOnce", Bool),
        nz(18, "tty", Bool),
    ],
};

/// `io.k8s.api.core.v1.EphemeralVolumeSource`.
pub(crate) static EPHEMERAL_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.EphemeralVolumeSource",
    fields: &[opt(
        1,
        "volumeClaimTemplate",
        Msg(&PERSISTENT_VOLUME_CLAIM_TEMPLATE),
    )],
};

/// `io.k8s.api.core.v1.ExecAction`.
pub(crate) static EXEC_ACTION: Message = Message {
    name: "io.k8s.api.core.v1.ExecAction",
    fields: &[rep(1, "command", Str)],
};

/// `io.k8s.api.core.v1.FCVolumeSource`.
pub(crate) static FC_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.FCVolumeSource",
    fields: &[
        rep(1, "targetWWNs", Str),
        opt(2, "lun", I32),
        nz(3, "fsType", Str),
        nz(4, "readOnly", Bool),
        rep(5, "wwids", Str),
    ],
};

/// `io.k8s.api.core.v1.FileKeySelector`.
pub(crate) static FILE_KEY_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.FileKeySelector",
    fields: &[
        opt(1, "volumeName", Str),
        opt(2, "path", Str),
        opt(3, "key", Str),
        opt(4, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.FlexVolumeSource`.
pub(crate) static FLEX_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.FlexVolumeSource",
    fields: &[
        opt(1, "driver", Str),
        nz(2, "fsType", Str),
        opt(3, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
        nz(4, "readOnly", Bool),
        map(5, "options", Str),
    ],
};

/// `io.k8s.api.core.v1.FlockerVolumeSource`.
pub(crate) static FLOCKER_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.FlockerVolumeSource",
    fields: &[nz(1, "datasetName", Str), nz(2, "datasetUUID", Str)],
};

/// `io.k8s.api.core.v1.GCEPersistentDiskVolumeSource`.
pub(crate) static GCE_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.GCEPersistentDiskVolumeSource",
    fields: &[
        opt(1, "pdName", Str),
        nz(2, "fsType", Str),
        nz(3, "partition", I32),
        nz(4, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.GitRepoVolumeSource`.
pub(crate) static GIT_REPO_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.GitRepoVolumeSource",
    fields: &[
        opt(1, "repository", Str),
        nz(2, "revision", Str),
        nz(3, "directory", Str),
    ],
};

/// `io.k8s.api.core.v1.GlusterfsVolumeSource`.
pub(crate) static GLUSTERFS_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.GlusterfsVolumeSource",
    fields: &[
        opt(1, "endpoints", Str),
        opt(2, "path", Str),
        nz(3, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.GRPCAction`.
pub(crate) static GRPC_ACTION: Message = Message {
    name: "io.k8s.api.core.v1.GRPCAction",
    fields: &[opt(1, "port", I32), opt(2, "service", Str)],
};

/// `io.k8s.api.core.v1.HostAlias`.
pub(crate) static HOST_ALIAS: Message = Message {
    name: "io.k8s.api.core.v1.HostAlias",
    fields: &[opt(1, "ip", Str), rep(2, "hostnames", Str)],
};

/// `io.k8s.api.core.v1.HostIP`.
pub(crate) static HOST_IP: Message = Message {
    name: "io.k8s.api.core.v1.HostIP",
    fields: &[opt(1, "ip", Str)],
};

/// `io.k8s.api.core.v1.HostPathVolumeSource`.
pub(crate) static HOST_PATH_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.HostPathVolumeSource",
    fields: &[opt(1, "path", Str), opt(2, "type", Str)],
};

/// `io.k8s.api.core.v1.HTTPGetAction`.
pub(crate) static HTTP_GET_ACTION: Message = Message {
    name: "io.k8s.api.core.v1.HTTPGetAction",
    fields: &[
        nz(1, "path", Str),
        opt(2, "port", IntOrString),
        nz(3, "host", Str),
        nz(4, "scheme", Str),
        rep(5, "httpHeaders", Msg(&HTTP_HEADER)),
    ],
};

/// `io.k8s.api.core.v1.HTTPHeader`.
pub(crate) static HTTP_HEADER: Message = Message {
    name: "io.k8s.api.core.v1.HTTPHeader",
    fields: &[opt(1, "name", Str), opt(2, "value", Str)],
};

/// `io.k8s.api.core.v1.ImageVolumeSource`.
pub(crate) static IMAGE_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ImageVolumeSource",
    fields: &[nz(1, "reference", Str), nz(2, "pullPolicy", Str)],
};

/// `io.k8s.api.core.v1.ISCSIVolumeSource`.
pub(crate) static ISCSI_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ISCSIVolumeSource",
    fields: &[
        opt(1, "targetPortal", Str),
        opt(2, "iqn", Str),
        opt(3, "lun", I32),
        nz(4, "iscsiInterface", Str),
        nz(5, "fsType", Str),
        nz(6, "readOnly", Bool),
        rep(7, "portals", Str),
        nz(8, "chapAuthDiscovery", Bool),
        nz(11, "chapAuthSession", Bool),
        opt(10, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
        opt(12, "initiatorName", Str),
    ],
};

/// `io.k8s.api.core.v1.KeyToPath`.
pub(crate) static KEY_TO_PATH: Message = Message {
    name: "io.k8s.api.core.v1.KeyToPath",
    fields: &[opt(1, "key", Str), opt(2, "path", Str), opt(3, "mode", I32)],
};

/// `io.k8s.api.core.v1.Lifecycle`.
pub(crate) static LIFECYCLE: Message = Message {
    name: "io.k8s.api.core.v1.Lifecycle",
    fields: &[
        opt(1, "postStart", Msg(&LIFECYCLE_HANDLER)),
        opt(2, "preStop", Msg(&LIFECYCLE_HANDLER)),
        opt(3, "stopSignal", Str),
    ],
};

/// `io.k8s.api.core.v1.LifecycleHandler`.
pub(crate) static LIFECYCLE_HANDLER: Message = Message {
    name: "io.k8s.api.core.v1.LifecycleHandler",
    fields: &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "sleep", Msg(&SLEEP_ACTION)),
    ],
};

/// `io.k8s.api.core.v1.LinuxContainerUser`.
pub(crate) static LINUX_CONTAINER_USER: Message = Message {
    name: "io.k8s.api.core.v1.LinuxContainerUser",
    fields: &[
        opt(1, "uid", I64),
        opt(2, "gid", I64),
        rep(3, "supplementalGroups", I64),
    ],
};

/// `io.k8s.api.core.v1.LoadBalancerIngress`.
pub(crate) static LOAD_BALANCER_INGRESS: Message = Message {
    name: "io.k8s.api.core.v1.LoadBalancerIngress",
    fields: &[
        nz(1, "ip", Str),
        nz(2, "hostname", Str),
        opt(3, "ipMode", Str),
        rep(4, "ports", Msg(&PORT_STATUS)),
    ],
};

/// `io.k8s.api.core.v1.LoadBalancerStatus`.
pub(crate) static LOAD_BALANCER_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.LoadBalancerStatus",
    fields: &[rep(1, "ingress", Msg(&LOAD_BALANCER_INGRESS))],
};

/// `io.k8s.api.core.v1.LocalObjectReference`.
pub(crate) static LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.core.v1.LocalObjectReference",
    fields: &[nz(1, "name", Str)],
};

/// `io.k8s.api.core.v1.Namespace`.
pub(crate) static NAMESPACE: Message = Message {
    name: "io.k8s.api.core.v1.Namespace",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&NAMESPACE_SPEC)),
        opt(3, "status", Msg(&NAMESPACE_STATUS)),
    ],
};

/// `io.k8s.api.core.v1.NamespaceCondition`.
pub(crate) static NAMESPACE_CONDITION: Message = Message {
    name: "io.k8s.api.core.v1.NamespaceCondition",
    fields: &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(4, "lastTransitionTime", Time),
        nz(5, "reason", Str),
        nz(6, "message", Str),
    ],
};

/// `io.k8s.api.core.v1.NamespaceSpec`.
pub(crate) static NAMESPACE_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.NamespaceSpec",
    fields: &[rep(1, "finalizers", Str)],
};

/// `io.k8s.api.core.v1.NamespaceStatus`.
pub(crate) static NAMESPACE_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.NamespaceStatus",
    fields: &[
        nz(1, "phase", Str),
        rep(2, "conditions", Msg(&NAMESPACE_CONDITION)),
    ],
};

/// `io.k8s.api.core.v1.NFSVolumeSource`.
pub(crate) static NFS_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.NFSVolumeSource",
    fields: &[
        opt(1, "server", Str),
        opt(2, "path", Str),
        nz(3, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.NodeAffinity`.
pub(crate) static NODE_AFFINITY: Message = Message {
    name: "io.k8s.api.core.v1.NodeAffinity",
    fields: &[
        opt(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&NODE_SELECTOR),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&PREFERRED_SCHEDULING_TERM),
        ),
    ],
};

/// `io.k8s.api.core.v1.NodeSelector`.
pub(crate) static NODE_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.NodeSelector",
    fields: &[rep(1, "nodeSelectorTerms", Msg(&NODE_SELECTOR_TERM))],
};

/// `io.k8s.api.core.v1.NodeSelectorRequirement`.
pub(crate) static NODE_SELECTOR_REQUIREMENT: Message = Message {
    name: "io.k8s.api.core.v1.NodeSelectorRequirement",
    fields: &[
        opt(1, "key", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ],
};

/// `io.k8s.api.core.v1.NodeSelectorTerm`.
pub(crate) static NODE_SELECTOR_TERM: Message = Message {
    name: "io.k8s.api.core.v1.NodeSelectorTerm",
    fields: &[
        rep(1, "matchExpressions", Msg(&NODE_SELECTOR_REQUIREMENT)),
        rep(2, "matchFields", Msg(&NODE_SELECTOR_REQUIREMENT)),
    ],
};

/// `io.k8s.api.core.v1.ObjectFieldSelector`.
pub(crate) static OBJECT_FIELD_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.ObjectFieldSelector",
    fields: &[nz(1, "apiVersion", Str), opt(2, "fieldPath", Str)],
};

/// `io.k8s.api.core.v1.ObjectReference`.
pub(crate) static OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.core.v1.ObjectReference",
    fields: &[
        nz(1, "kind", Str),
        nz(2, "namespace", Str),
        nz(3, "name", Str),
        nz(4, "uid", Str),
        nz(5, "apiVersion", Str),
        nz(6, "resourceVersion", Str),
        nz(7, "fieldPath", Str),
    ],
};

/// `io.k8s.api.core.v1.PersistentVolumeClaimSpec`.
pub(crate) static PERSISTENT_VOLUME_CLAIM_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.PersistentVolumeClaimSpec",
    fields: &[
        rep(1, "accessModes", Str),
        opt(4, "selector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(2, "resources", Msg(&VOLUME_RESOURCE_REQUIREMENTS)),
        nz(3, "volumeName", Str),
        opt(5, "storageClassName", Str),
        opt(6, "volumeMode", Str),
        opt(7, "dataSource", Msg(&TYPED_LOCAL_OBJECT_REFERENCE)),
        opt(8, "dataSourceRef", Msg(&TYPED_OBJECT_REFERENCE)),
        opt(9, "volumeAttributesClassName", Str),
    ],
};

/// `io.k8s.api.core.v1.PersistentVolumeClaimTemplate`.
pub(crate) static PERSISTENT_VOLUME_CLAIM_TEMPLATE: Message = Message {
    name: "io.k8s.api.core.v1.PersistentVolumeClaimTemplate",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&PERSISTENT_VOLUME_CLAIM_SPEC)),
    ],
};

/// `io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource`.
pub(crate) static PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.PersistentVolumeClaimVolumeSource",
    fields: &[opt(1, "claimName", Str), nz(2, "readOnly", Bool)],
};

/// `io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource`.
pub(crate) static PHOTON_PERSISTENT_DISK_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.PhotonPersistentDiskVolumeSource",
    fields: &[opt(1, "pdID", Str), nz(2, "fsType", Str)],
};

/// `io.k8s.api.core.v1.Pod`.
pub(crate) static POD: Message = Message {
    name: "io.k8s.api.core.v1.Pod",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&POD_SPEC)),
        opt(3, "status", Msg(&POD_STATUS)),
    ],
};

/// `io.k8s.api.core.v1.PodAffinity`.
pub(crate) static POD_AFFINITY: Message = Message {
    name: "io.k8s.api.core.v1.PodAffinity",
    fields: &[
        rep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&POD_AFFINITY_TERM),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

/// `io.k8s.api.core.v1.PodAffinityTerm`.
pub(crate) static POD_AFFINITY_TERM: Message = Message {
    name: "io.k8s.api.core.v1.PodAffinityTerm",
    fields: &[
        opt(1, "labelSelector", Msg(&meta_v1::LABEL_SELECTOR)),
        rep(2, "namespaces", Str),
        opt(3, "topologyKey", Str),
        opt(4, "namespaceSelector", Msg(&meta_v1::LABEL_SELECTOR)),
        rep(5, "matchLabelKeys", Str),
        rep(6, "mismatchLabelKeys", Str),
    ],
};

/// `io.k8s.api.core.v1.PodAntiAffinity`.
pub(crate) static POD_ANTI_AFFINITY: Message = Message {
    name: "io.k8s.api.core.v1.PodAntiAffinity",
    fields: &[
        rep(
            1,
            "requiredDuringSchedulingIgnoredDuringExecution",
            Msg(&POD_AFFINITY_TERM),
        ),
        rep(
            2,
            "preferredDuringSchedulingIgnoredDuringExecution",
            Msg(&WEIGHTED_POD_AFFINITY_TERM),
        ),
    ],
};

/// `io.k8s.api.core.v1.PodCertificateProjection`.
pub(crate) static POD_CERTIFICATE_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.PodCertificateProjection",
    fields: &[
        nz(1, "signerName", Str),
        nz(2, "keyType", Str),
        opt(3, "maxExpirationSeconds", I32),
        nz(4, "credentialBundlePath", Str),
        nz(5, "keyPath", Str),
        nz(6, "certificateChainPath", Str),
        map(7, "userAnnotations", Str),
    ],
};

/// `io.k8s.api.core.v1.PodCondition`.
pub(crate) static POD_CONDITION: Message = Message {
    name: "io.k8s.api.core.v1.PodCondition",
    fields: &[
        opt(1, "type", Str),
        nz(7, "observedGeneration", I64),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        nz(5, "reason", Str),
        nz(6, "message", Str),
    ],
};

/// `io.k8s.api.core.v1.PodDNSConfig`.
pub(crate) static POD_DNS_CONFIG: Message = Message {
    name: "io.k8s.api.core.v1.PodDNSConfig",
    fields: &[
        rep(1, "nameservers", Str),
        rep(2, "searches", Str),
        rep(3, "options", Msg(&POD_DNS_CONFIG_OPTION)),
    ],
};

/// `io.k8s.api.core.v1.PodDNSConfigOption`.
pub(crate) static POD_DNS_CONFIG_OPTION: Message = Message {
    name: "io.k8s.api.core.v1.PodDNSConfigOption",
    fields: &[nz(1, "name", Str), opt(2, "value", Str)],
};

/// `io.k8s.api.core.v1.PodExtendedResourceClaimStatus`.
pub(crate) static POD_EXTENDED_RESOURCE_CLAIM_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.PodExtendedResourceClaimStatus",
    fields: &[
        rep(
            1,
            "requestMappings",
            Msg(&CONTAINER_EXTENDED_RESOURCE_REQUEST),
        ),
        opt(2, "resourceClaimName", Str),
    ],
};

/// `io.k8s.api.core.v1.PodIP`.
pub(crate) static POD_IP: Message = Message {
    name: "io.k8s.api.core.v1.PodIP",
    fields: &[opt(1, "ip", Str)],
};

/// `io.k8s.api.core.v1.PodOS`.
pub(crate) static POD_OS: Message = Message {
    name: "io.k8s.api.core.v1.PodOS",
    fields: &[opt(1, "name", Str)],
};

/// `io.k8s.api.core.v1.PodReadinessGate`.
pub(crate) static POD_READINESS_GATE: Message = Message {
    name: "io.k8s.api.core.v1.PodReadinessGate",
    fields: &[opt(1, "conditionType", Str)],
};

/// `io.k8s.api.core.v1.PodResourceClaim`.
pub(crate) static POD_RESOURCE_CLAIM: Message = Message {
    name: "io.k8s.api.core.v1.PodResourceClaim",
    fields: &[
        opt(1, "name", Str),
        opt(3, "resourceClaimName", Str),
        opt(4, "resourceClaimTemplateName", Str),
    ],
};

/// `io.k8s.api.core.v1.PodResourceClaimStatus`.
pub(crate) static POD_RESOURCE_CLAIM_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.PodResourceClaimStatus",
    fields: &[opt(1, "name", Str), opt(2, "resourceClaimName", Str)],
};

/// `io.k8s.api.core.v1.PodSchedulingGate`.
pub(crate) static POD_SCHEDULING_GATE: Message = Message {
    name: "io.k8s.api.core.v1.PodSchedulingGate",
    fields: &[opt(1, "name", Str)],
};

/// `io.k8s.api.core.v1.PodSecurityContext`.
pub(crate) static POD_SECURITY_CONTEXT: Message = Message {
    name: "io.k8s.api.core.v1.PodSecurityContext",
    fields: &[
        opt(1, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(8, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(2, "runAsUser", I64),
        opt(6, "runAsGroup", I64),
        opt(3, "runAsNonRoot", Bool),
        rep(4, "supplementalGroups", I64),
        opt(12, "supplementalGroupsPolicy", Str),
        opt(5, "fsGroup", I64),
        rep(7, "sysctls", Msg(&SYSCTL)),
        opt(9, "fsGroupChangePolicy", Str),
        opt(10, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(11, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
        opt(13, "seLinuxChangePolicy", Str),
    ],
};

/// `io.k8s.api.core.v1.PodSpec`.
pub(crate) static POD_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.PodSpec",
    fields: &[
        rep(1, "volumes", Msg(&VOLUME)),
        rep(20, "initContainers", Msg(&CONTAINER)),
        rep(2, "containers", Msg(&CONTAINER)),
        rep(34, "ephemeralContainers", Msg(&EPHEMERAL_CONTAINER)),
        nz(3, "restartPolicy", Str),
        opt(4, "terminationGracePeriodSeconds", I64),
        opt(5, "activeDeadlineSeconds", I64),
        nz(6, "dnsPolicy", Str),
        map(7, "nodeSelector", Str),
        nz(8, "serviceAccountName", Str),
        nz(9, "serviceAccount", Str),
        opt(21, "automountServiceAccountToken", Bool),
        nz(10, "nodeName", Str),
        nz(11, "hostNetwork", Bool),
        nz(12, "hostPID", Bool),
        nz(13, "hostIPC", Bool),
        opt(27, "shareProcessNamespace", Bool),
        opt(14, "securityContext", Msg(&POD_SECURITY_CONTEXT)),
        rep(15, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        nz(16, "hostname", Str),
        nz(17, "subdomain", Str),
        opt(18, "affinity", Msg(&AFFINITY)),
        nz(19, "schedulerName", Str),
        rep(22, "tolerations", Msg(&TOLERATION)),
        rep(23, "hostAliases", Msg(&HOST_ALIAS)),
        nz(24, "priorityClassName", Str),
        opt(25, "priority", I32),
        opt(26, "dnsConfig", Msg(&POD_DNS_CONFIG)),
        rep(28, "readinessGates", Msg(&POD_READINESS_GATE)),
        opt(29, "runtimeClassName", Str),
        opt(30, "enableServiceLinks", Bool),
        opt(31, "preemptionPolicy", Str),
        map(32, "overhead", Quantity),
        rep(
            33,
            "topologySpreadConstraints",
            Msg(&TOPOLOGY_SPREAD_CONSTRAINT),
        ),
        opt(35, "setHostnameAsFQDN", Bool),
        opt(36, "os", Msg(&POD_OS)),
        opt(37, "hostUsers", Bool),
        rep(38, "schedulingGates", Msg(&POD_SCHEDULING_GATE)),
        rep(39, "resourceClaims", Msg(&POD_RESOURCE_CLAIM)),
        opt(40, "resources", Msg(&RESOURCE_REQUIREMENTS)),
        opt(41, "hostnameOverride", Str),
        opt(42, "workloadRef", Msg(&WORKLOAD_REFERENCE)),
    ],
};

/// `io.k8s.api.core.v1.PodStatus`.
pub(crate) static POD_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.PodStatus",
    fields: &[
        nz(17, "observedGeneration", I64),
        nz(1, "phase", Str),
        rep(2, "conditions", Msg(&POD_CONDITION)),
        nz(3, "message", Str),
        nz(4, "reason", Str),
        nz(11, "nominatedNodeName", Str),
        nz(5, "hostIP", Str),
        rep(16, "hostIPs", Msg(&HOST_IP)),
        nz(6, "podIP", Str),
        rep(12, "podIPs", Msg(&POD_IP)),
        opt(7, "startTime", Time),
        rep(10, "initContainerStatuses", Msg(&CONTAINER_STATUS)),
        rep(8, "containerStatuses", Msg(&CONTAINER_STATUS)),
        nz(9, "qosClass", Str),
        rep(13, "ephemeralContainerStatuses", Msg(&CONTAINER_STATUS)),
        nz(14, "resize", Str),
        rep(15, "resourceClaimStatuses", Msg(&POD_RESOURCE_CLAIM_STATUS)),
        opt(
            18,
            "extendedResourceClaimStatus",
            Msg(&POD_EXTENDED_RESOURCE_CLAIM_STATUS),
        ),
        map(19, "allocatedResources", Quantity),
        opt(20, "resources", Msg(&RESOURCE_REQUIREMENTS)),
    ],
};

/// `io.k8s.api.core.v1.PodTemplateSpec`.
pub(crate) static POD_TEMPLATE_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.PodTemplateSpec",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&POD_SPEC)),
    ],
};

/// `io.k8s.api.core.v1.PortStatus`.
pub(crate) static PORT_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.PortStatus",
    fields: &[
        opt(1, "port", I32),
        opt(2, "protocol", Str),
        opt(3, "error", Str),
    ],
};

/// `io.k8s.api.core.v1.PortworxVolumeSource`.
pub(crate) static PORTWORX_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.PortworxVolumeSource",
    fields: &[
        opt(1, "volumeID", Str),
        nz(2, "fsType", Str),
        nz(3, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.PreferredSchedulingTerm`.
pub(crate) static PREFERRED_SCHEDULING_TERM: Message = Message {
    name: "io.k8s.api.core.v1.PreferredSchedulingTerm",
    fields: &[
        opt(1, "weight", I32),
        opt(2, "preference", Msg(&NODE_SELECTOR_TERM)),
    ],
};

/// `io.k8s.api.core.v1.Probe`.
pub(crate) static PROBE: Message = Message {
    name: "io.k8s.api.core.v1.Probe",
    fields: &[
        inline(1, &PROBE_HANDLER),
        nz(2, "initialDelaySeconds", I32),
        nz(3, "timeoutSeconds", I32),
        nz(4, "periodSeconds", I32),
        nz(5, "successThreshold", I32),
        nz(6, "failureThreshold", I32),
        opt(7, "terminationGracePeriodSeconds", I64),
    ],
};

/// `io.k8s.api.core.v1.ProbeHandler`.
pub(crate) static PROBE_HANDLER: Message = Message {
    name: "io.k8s.api.core.v1.ProbeHandler",
    fields: &[
        opt(1, "exec", Msg(&EXEC_ACTION)),
        opt(2, "httpGet", Msg(&HTTP_GET_ACTION)),
        opt(3, "tcpSocket", Msg(&TCP_SOCKET_ACTION)),
        opt(4, "grpc", Msg(&GRPC_ACTION)),
    ],
};

/// `io.k8s.api.core.v1.ProjectedVolumeSource`.
pub(crate) static PROJECTED_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ProjectedVolumeSource",
    fields: &[
        rep(1, "sources", Msg(&VOLUME_PROJECTION)),
        opt(2, "defaultMode", I32),
    ],
};

/// `io.k8s.api.core.v1.QuobyteVolumeSource`.
pub(crate) static QUOBYTE_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.QuobyteVolumeSource",
    fields: &[
        opt(1, "registry", Str),
        opt(2, "volume", Str),
        nz(3, "readOnly", Bool),
        nz(4, "user", Str),
        nz(5, "group", Str),
        nz(6, "tenant", Str),
    ],
};

/// `io.k8s.api.core.v1.RBDVolumeSource`.
pub(crate) static RBD_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.RBDVolumeSource",
    fields: &[
        rep(1, "monitors", Str),
        opt(2, "image", Str),
        nz(3, "fsType", Str),
        nz(4, "pool", Str),
        nz(5, "user", Str),
        nz(6, "keyring", Str),
        opt(7, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
        nz(8, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.ResourceClaim`.
pub(crate) static RESOURCE_CLAIM: Message = Message {
    name: "io.k8s.api.core.v1.ResourceClaim",
    fields: &[opt(1, "name", Str), nz(2, "request", Str)],
};

/// `io.k8s.api.core.v1.ResourceFieldSelector`.
pub(crate) static RESOURCE_FIELD_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.ResourceFieldSelector",
    fields: &[
        nz(1, "containerName", Str),
        opt(2, "resource", Str),
        opt(3, "divisor", Quantity),
    ],
};

/// `io.k8s.api.core.v1.ResourceHealth`.
pub(crate) static RESOURCE_HEALTH: Message = Message {
    name: "io.k8s.api.core.v1.ResourceHealth",
    fields: &[opt(1, "resourceID", Str), nz(2, "health", Str)],
};

/// `io.k8s.api.core.v1.ResourceQuota`.
pub(crate) static RESOURCE_QUOTA: Message = Message {
    name: "io.k8s.api.core.v1.ResourceQuota",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&RESOURCE_QUOTA_SPEC)),
        opt(3, "status", Msg(&RESOURCE_QUOTA_STATUS)),
    ],
};

/// `io.k8s.api.core.v1.ResourceQuotaSpec`.
pub(crate) static RESOURCE_QUOTA_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.ResourceQuotaSpec",
    fields: &[
        map(1, "hard", Quantity),
        rep(2, "scopes", Str),
        opt(3, "scopeSelector", Msg(&SCOPE_SELECTOR)),
    ],
};

/// `io.k8s.api.core.v1.ResourceQuotaStatus`.
pub(crate) static RESOURCE_QUOTA_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.ResourceQuotaStatus",
    fields: &[map(1, "hard", Quantity), map(2, "used", Quantity)],
};

/// `io.k8s.api.core.v1.ResourceRequirements`.
pub(crate) static RESOURCE_REQUIREMENTS: Message = Message {
    name: "io.k8s.api.core.v1.ResourceRequirements",
    fields: &[
        map(1, "limits", Quantity),
        map(2, "requests", Quantity),
        rep(3, "claims", Msg(&RESOURCE_CLAIM)),
    ],
};

/// `io.k8s.api.core.v1.ResourceStatus`.
pub(crate) static RESOURCE_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.ResourceStatus",
    fields: &[
        opt(1, "name", Str),
        rep(2, "resources", Msg(&RESOURCE_HEALTH)),
    ],
};

/// `io.k8s.api.core.v1.ScaleIOVolumeSource`.
pub(crate) static SCALE_IO_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.ScaleIOVolumeSource",
    fields: &[
        opt(1, "gateway", Str),
        opt(2, "system", Str),
        opt(3, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
        nz(4, "sslEnabled", Bool),
        nz(5, "protectionDomain", Str),
        nz(6, "storagePool", Str),
        nz(7, "storageMode", Str),
        nz(8, "volumeName", Str),
        nz(9, "fsType", Str),
        nz(10, "readOnly", Bool),
    ],
};

/// `io.k8s.api.core.v1.ScopeSelector`.
pub(crate) static SCOPE_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.ScopeSelector",
    fields: &[rep(
        1,
        "matchExpressions",
        Msg(&SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
    )],
};

/// `io.k8s.api.core.v1.ScopedResourceSelectorRequirement`.
pub(crate) static SCOPED_RESOURCE_SELECTOR_REQUIREMENT: Message = Message {
    name: "io.k8s.api.core.v1.ScopedResourceSelectorRequirement",
    fields: &[
        opt(1, "scopeName", Str),
        opt(2, "operator", Str),
        rep(3, "values", Str),
    ],
};

/// `io.k8s.api.core.v1.SELinuxOptions`.
pub(crate) static SE_LINUX_OPTIONS: Message = Message {
    name: "io.k8s.api.core.v1.SELinuxOptions",
    fields: &[
        nz(1, "user", Str),
        nz(2, "role", Str),
        nz(3, "type", Str),
        nz(4, "level", Str),
    ],
};

/// `io.k8s.api.core.v1.SeccompProfile`.
pub(crate) static SECCOMP_PROFILE: Message = Message {
    name: "io.k8s.api.core.v1.SeccompProfile",
    fields: &[opt(1, "type", Str), opt(2, "localhostProfile", Str)],
};

/// `io.k8s.api.core.v1.Secret`.
pub(crate) static SECRET: Message = Message {
    name: "io.k8s.api.core.v1.Secret",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(5, "immutable", Bool),
        map(2, "data", Bytes),
        map(4, "stringData", Str),
        nz(3, "type", Str),
    ],
};

/// `io.k8s.api.core.v1.SecretEnvSource`.
pub(crate) static SECRET_ENV_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.SecretEnvSource",
    fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), opt(2, "optional", Bool)],
};

/// `io.k8s.api.core.v1.SecretKeySelector`.
pub(crate) static SECRET_KEY_SELECTOR: Message = Message {
    name: "io.k8s.api.core.v1.SecretKeySelector",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        opt(2, "key", Str),
        opt(3, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.SecretProjection`.
pub(crate) static SECRET_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.SecretProjection",
    fields: &[
        inline(1, &LOCAL_OBJECT_REFERENCE),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(4, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.SecretVolumeSource`.
pub(crate) static SECRET_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.SecretVolumeSource",
    fields: &[
        nz(1, "secretName", Str),
        rep(2, "items", Msg(&KEY_TO_PATH)),
        opt(3, "defaultMode", I32),
        opt(4, "optional", Bool),
    ],
};

/// `io.k8s.api.core.v1.SecurityContext`.
pub(crate) static SECURITY_CONTEXT: Message = Message {
    name: "io.k8s.api.core.v1.SecurityContext",
    fields: &[
        opt(1, "capabilities", Msg(&CAPABILITIES)),
        opt(2, "privileged", Bool),
        opt(3, "seLinuxOptions", Msg(&SE_LINUX_OPTIONS)),
        opt(10, "windowsOptions", Msg(&WINDOWS_SECURITY_CONTEXT_OPTIONS)),
        opt(4, "runAsUser", I64),
        opt(8, "runAsGroup", I64),
        opt(5, "runAsNonRoot", Bool),
        opt(6, "readOnlyRootFilesystem", Bool),
        opt(7, "allowPrivilegeEscalation", Bool),
        opt(9, "procMount", Str),
        opt(11, "seccompProfile", Msg(&SECCOMP_PROFILE)),
        opt(12, "appArmorProfile", Msg(&APP_ARMOR_PROFILE)),
    ],
};

/// `io.k8s.api.core.v1.Service`.
pub(crate) static SERVICE: Message = Message {
    name: "io.k8s.api.core.v1.Service",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&SERVICE_SPEC)),
        opt(3, "status", Msg(&SERVICE_STATUS)),
    ],
};

/// `io.k8s.api.core.v1.ServiceAccount`.
pub(crate) static SERVICE_ACCOUNT: Message = Message {
    name: "io.k8s.api.core.v1.ServiceAccount",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        rep(2, "secrets", Msg(&OBJECT_REFERENCE)),
        rep(3, "imagePullSecrets", Msg(&LOCAL_OBJECT_REFERENCE)),
        opt(4, "automountServiceAccountToken", Bool),
    ],
};

/// `io.k8s.api.core.v1.ServiceAccountTokenProjection`.
pub(crate) static SERVICE_ACCOUNT_TOKEN_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.ServiceAccountTokenProjection",
    fields: &[
        nz(1, "audience", Str),
        opt(2, "expirationSeconds", I64),
        opt(3, "path", Str),
    ],
};

/// `io.k8s.api.core.v1.ServicePort`.
pub(crate) static SERVICE_PORT: Message = Message {
    name: "io.k8s.api.core.v1.ServicePort",
    fields: &[
        nz(1, "name", Str),
        nz(2, "protocol", Str),
        opt(6, "appProtocol", Str),
        opt(3, "port", I32),
        opt(4, "targetPort", IntOrString),
        nz(5, "nodePort", I32),
    ],
};

/// `io.k8s.api.core.v1.ServiceSpec`.
pub(crate) static SERVICE_SPEC: Message = Message {
    name: "io.k8s.api.core.v1.ServiceSpec",
    fields: &[
        rep(1, "ports", Msg(&SERVICE_PORT)),
        map(2, "selector", Str),
        nz(3, "clusterIP", Str),
        rep(18, "clusterIPs", Str),
        nz(4, "type", Str),
        rep(5, "externalIPs", Str),
        nz(7, "sessionAffinity", Str),
        nz(8, "loadBalancerIP", Str),
        rep(9, "loadBalancerSourceRanges", Str),
        nz(10, "externalName", Str),
        nz(11, "externalTrafficPolicy", Str),
        nz(12, "healthCheckNodePort", I32),
        nz(13, "publishNotReadyAddresses", Bool),
        opt(14, "sessionAffinityConfig", Msg(&SESSION_AFFINITY_CONFIG)),
        rep(19, "ipFamilies", Str),
        opt(17, "ipFamilyPolicy", Str),
        opt(20, "allocateLoadBalancerNodePorts", Bool),
        opt(21, "loadBalancerClass", Str),
        opt(22, "internalTrafficPolicy", Str),
        opt(23, "trafficDistribution", Str),
    ],
};

/// `io.k8s.api.core.v1.ServiceStatus`.
pub(crate) static SERVICE_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.ServiceStatus",
    fields: &[
        opt(1, "loadBalancer", Msg(&LOAD_BALANCER_STATUS)),
        rep(2, "conditions", Msg(&meta_v1::CONDITION)),
    ],
};

/// `io.k8s.api.core.v1.SessionAffinityConfig`.
pub(crate) static SESSION_AFFINITY_CONFIG: Message = Message {
    name: "io.k8s.api.core.v1.SessionAffinityConfig",
    fields: &[opt(1, "clientIP", Msg(&CLIENT_IP_CONFIG))],
};

/// `io.k8s.api.core.v1.SleepAction`.
pub(crate) static SLEEP_ACTION: Message = Message {
    name: "io.k8s.api.core.v1.SleepAction",
    fields: &[opt(1, "seconds", I64)],
};

/// `io.k8s.api.core.v1.StorageOSVolumeSource`.
pub(crate) static STORAGE_OS_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.StorageOSVolumeSource",
    fields: &[
        nz(1, "volumeName", Str),
        nz(2, "volumeNamespace", Str),
        nz(3, "fsType", Str),
        nz(4, "readOnly", Bool),
        opt(5, "secretRef", Msg(&LOCAL_OBJECT_REFERENCE)),
    ],
};

/// `io.k8s.api.core.v1.Sysctl`.
pub(crate) static SYSCTL: Message = Message {
    name: "io.k8s.api.core.v1.Sysctl",
    fields: &[opt(1, "name", Str), opt(2, "value", Str)],
};

/// `io.k8s.api.core.v1.TCPSocketAction`.
pub(crate) static TCP_SOCKET_ACTION: Message = Message {
    name: "io.k8s.api.core.v1.TCPSocketAction",
    fields: &[opt(1, "port", IntOrString), nz(2, "host", Str)],
};

/// `io.k8s.api.core.v1.Toleration`.
pub(crate) static TOLERATION: Message = Message {
    name: "io.k8s.api.core.v1.Toleration",
    fields: &[
        nz(1, "key", Str),
        nz(2, "operator", Str),
        nz(3, "value", Str),
        nz(4, "effect", Str),
        opt(5, "tolerationSeconds", I64),
    ],
};

/// `io.k8s.api.core.v1.TopologySpreadConstraint`.
pub(crate) static TOPOLOGY_SPREAD_CONSTRAINT: Message = Message {
    name: "io.k8s.api.core.v1.TopologySpreadConstraint",
    fields: &[
        opt(1, "maxSkew", I32),
        opt(2, "topologyKey", Str),
        opt(3, "whenUnsatisfiable", Str),
        opt(4, "labelSelector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(5, "minDomains", I32),
        opt(6, "nodeAffinityPolicy", Str),
        opt(7, "nodeTaintsPolicy", Str),
        rep(8, "matchLabelKeys", Str),
    ],
};

/// `io.k8s.api.core.v1.TypedLocalObjectReference`.
pub(crate) static TYPED_LOCAL_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.core.v1.TypedLocalObjectReference",
    fields: &[
        opt(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
    ],
};

/// `io.k8s.api.core.v1.TypedObjectReference`.
pub(crate) static TYPED_OBJECT_REFERENCE: Message = Message {
    name: "io.k8s.api.core.v1.TypedObjectReference",
    fields: &[
        opt(1, "apiGroup", Str),
        opt(2, "kind", Str),
        opt(3, "name", Str),
        opt(4, "namespace", Str),
    ],
};

/// `io.k8s.api.core.v1.Volume`.
pub(crate) static VOLUME: Message = Message {
    name: "io.k8s.api.core.v1.Volume",
    fields: &[opt(1, "name", Str), inline(2, &VOLUME_SOURCE)],
};

/// `io.k8s.api.core.v1.VolumeDevice`.
pub(crate) static VOLUME_DEVICE: Message = Message {
    name: "io.k8s.api.core.v1.VolumeDevice",
    fields: &[opt(1, "name", Str), opt(2, "devicePath", Str)],
};

/// `io.k8s.api.core.v1.VolumeMount`.
pub(crate) static VOLUME_MOUNT: Message = Message {
    name: "io.k8s.api.core.v1.VolumeMount",
    fields: &[
        opt(1, "name", Str),
        nz(2, "readOnly", Bool),
        opt(7, "recursiveReadOnly", Str),
        opt(3, "mountPath", Str),
        nz(4, "subPath", Str),
        opt(5, "mountPropagation", Str),
        nz(6, "subPathExpr", Str),
    ],
};

/// `io.k8s.api.core.v1.VolumeMountStatus`.
pub(crate) static VOLUME_MOUNT_STATUS: Message = Message {
    name: "io.k8s.api.core.v1.VolumeMountStatus",
    fields: &[
        opt(1, "name", Str),
        opt(2, "mountPath", Str),
        nz(3, "readOnly", Bool),
        opt(4, "recursiveReadOnly", Str),
    ],
};

/// `io.k8s.api.core.v1.VolumeProjection`.
pub(crate) static VOLUME_PROJECTION: Message = Message {
    name: "io.k8s.api.core.v1.VolumeProjection",
    fields: &[
        opt(1, "secret", Msg(&SECRET_PROJECTION)),
        opt(2, "downwardAPI", Msg(&DOWNWARD_API_PROJECTION)),
        opt(3, "configMap", Msg(&CONFIG_MAP_PROJECTION)),
        opt(
            4,
            "serviceAccountToken",
            Msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION),
        ),
        opt(
            5,
            "clusterTrustBundle",
            Msg(&CLUSTER_TRUST_BUNDLE_PROJECTION),
        ),
        opt(6, "podCertificate", Msg(&POD_CERTIFICATE_PROJECTION)),
    ],
};

/// `io.k8s.api.core.v1.VolumeResourceRequirements`.
pub(crate) static VOLUME_RESOURCE_REQUIREMENTS: Message = Message {
    name: "io.k8s.api.core.v1.VolumeResourceRequirements",
    fields: &[map(1, "limits", Quantity), map(2, "requests", Quantity)],
};

/// `io.k8s.api.core.v1.VolumeSource`.
pub(crate) static VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.VolumeSource",
    fields: &[
        opt(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE)),
        opt(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE)),
        opt(
            3,
            "gcePersistentDisk",
            Msg(&GCE_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        opt(
            4,
            "awsElasticBlockStore",
            Msg(&AWS_ELASTIC_BLOCK_STORE_VOLUME_SOURCE),
        ),
        opt(5, "gitRepo", Msg(&GIT_REPO_VOLUME_SOURCE)),
        opt(6, "secret", Msg(&SECRET_VOLUME_SOURCE)),
        opt(7, "nfs", Msg(&NFS_VOLUME_SOURCE)),
        opt(8, "iscsi", Msg(&ISCSI_VOLUME_SOURCE)),
        opt(9, "glusterfs", Msg(&GLUSTERFS_VOLUME_SOURCE)),
        opt(
            10,
            "persistentVolumeClaim",
            Msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
        ),
        opt(11, "rbd", Msg(&RBD_VOLUME_SOURCE)),
        opt(12, "flexVolume", Msg(&FLEX_VOLUME_SOURCE)),
        opt(13, "cinder", Msg(&CINDER_VOLUME_SOURCE)),
        opt(14, "cephfs", Msg(&CEPH_FS_VOLUME_SOURCE)),
        opt(15, "flocker", Msg(&FLOCKER_VOLUME_SOURCE)),
        opt(16, "downwardAPI", Msg(&DOWNWARD_API_VOLUME_SOURCE)),
        opt(17, "fc", Msg(&FC_VOLUME_SOURCE)),
        opt(18, "azureFile", Msg(&AZURE_FILE_VOLUME_SOURCE)),
        opt(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE)),
        opt(
            20,
            "vsphereVolume",
            Msg(&VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE),
        ),
        opt(21, "quobyte", Msg(&QUOBYTE_VOLUME_SOURCE)),
        opt(22, "azureDisk", Msg(&AZURE_DISK_VOLUME_SOURCE)),
        opt(
            23,
            "photonPersistentDisk",
            Msg(&PHOTON_PERSISTENT_DISK_VOLUME_SOURCE),
        ),
        opt(26, "projected", Msg(&PROJECTED_VOLUME_SOURCE)),
        opt(24, "portworxVolume", Msg(&PORTWORX_VOLUME_SOURCE)),
        opt(25, "scaleIO", Msg(&SCALE_IO_VOLUME_SOURCE)),
        opt(27, "storageos", Msg(&STORAGE_OS_VOLUME_SOURCE)),
        opt(28, "csi", Msg(&CSI_VOLUME_SOURCE)),
        opt(29, "ephemeral", Msg(&EPHEMERAL_VOLUME_SOURCE)),
        opt(30, "image", Msg(&IMAGE_VOLUME_SOURCE)),
    ],
};

/// `io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource`.
pub(crate) static VSPHERE_VIRTUAL_DISK_VOLUME_SOURCE: Message = Message {
    name: "io.k8s.api.core.v1.VsphereVirtualDiskVolumeSource",
    fields: &[
        opt(1, "volumePath", Str),
        nz(2, "fsType", Str),
        nz(3, "storagePolicyName", Str),
        nz(4, "storagePolicyID", Str),
    ],
};

/// `io.k8s.api.core.v1.WeightedPodAffinityTerm`.
pub(crate) static WEIGHTED_POD_AFFINITY_TERM: Message = Message {
    name: "io.k8s.api.core.v1.WeightedPodAffinityTerm",
    fields: &[
        opt(1, "weight", I32),
        opt(2, "podAffinityTerm", Msg(&POD_AFFINITY_TERM)),
    ],
};

/// `io.k8s.api.core.v1.WindowsSecurityContextOptions`.
pub(crate) static WINDOWS_SECURITY_CONTEXT_OPTIONS: Message = Message {
    name: "io.k8s.api.core.v1.WindowsSecurityContextOptions",
    fields: &[
        opt(1, "gmsaCredentialSpecName", Str),
        opt(2, "gmsaCredentialSpec", Str),
        opt(3, "runAsUserName", Str),
        opt(4, "hostProcess", Bool),
    ],
};

/// `io.k8s.api.core.v1.WorkloadReference`.
pub(crate) static WORKLOAD_REFERENCE: Message = Message {
    name: "io.k8s.api.core.v1.WorkloadReference",
    fields: &[
        opt(1, "name", Str),
        opt(2, "podGroup", Str),
        nz(3, "podGroupReplicaKey", Str),
    ],
};

//! Message descriptors for `batch/v1`: Job and CronJob.
//!
//! Field numbers and value types follow the Kubernetes 1.35 protobuf schema (as in the k8s-pb
//! crate); JSON names, field order and the omit-when-zero rules follow the Go struct tags.

use super::super::schema::{nz, opt, rep, Kind::*, Message};
use super::core_v1;
use super::meta_v1;

/// `io.k8s.api.batch.v1.CronJob`.
pub(crate) static CRON_JOB: Message = Message {
    name: "io.k8s.api.batch.v1.CronJob",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&CRON_JOB_SPEC)),
        opt(3, "status", Msg(&CRON_JOB_STATUS)),
    ],
};

/// `io.k8s.api.batch.v1.CronJobSpec`.
pub(crate) static CRON_JOB_SPEC: Message = Message {
    name: "io.k8s.api.batch.v1.CronJobSpec",
    fields: &[
        opt(1, "schedule", Str),
        opt(8, "timeZone", Str),
        opt(2, "startingDeadlineSeconds", I64),
        nz(3, "concurrencyPolicy", Str),
        opt(4, "suspend", Bool),
        opt(5, "jobTemplate", Msg(&JOB_TEMPLATE_SPEC)),
        opt(6, "successfulJobsHistoryLimit", I32),
        opt(7, "failedJobsHistoryLimit", I32),
    ],
};

/// `io.k8s.api.batch.v1.CronJobStatus`.
pub(crate) static CRON_JOB_STATUS: Message = Message {
    name: "io.k8s.api.batch.v1.CronJobStatus",
    fields: &[
        rep(1, "active", Msg(&core_v1::OBJECT_REFERENCE)),
        opt(4, "lastScheduleTime", Time),
        opt(5, "lastSuccessfulTime", Time),
    ],
};

/// `io.k8s.api.batch.v1.Job`.
pub(crate) static JOB: Message = Message {
    name: "io.k8s.api.batch.v1.Job",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&JOB_SPEC)),
        opt(3, "status", Msg(&JOB_STATUS)),
    ],
};

/// `io.k8s.api.batch.v1.JobCondition`.
pub(crate) static JOB_CONDITION: Message = Message {
    name: "io.k8s.api.batch.v1.JobCondition",
    fields: &[
        opt(1, "type", Str),
        opt(2, "status", Str),
        opt(3, "lastProbeTime", Time),
        opt(4, "lastTransitionTime", Time),
        nz(5, "reason", Str),
        nz(6, "message", Str),
    ],
};

/// `io.k8s.api.batch.v1.JobSpec`.
pub(crate) static JOB_SPEC: Message = Message {
    name: "io.k8s.api.batch.v1.JobSpec",
    fields: &[
        opt(1, "parallelism", I32),
        opt(2, "completions", I32),
        opt(3, "activeDeadlineSeconds", I64),
        opt(11, "podFailurePolicy", Msg(&POD_FAILURE_POLICY)),
        opt(16, "successPolicy", Msg(&SUCCESS_POLICY)),
        opt(7, "backoffLimit", I32),
        opt(12, "backoffLimitPerIndex", I32),
        opt(13, "maxFailedIndexes", I32),
        opt(4, "selector", Msg(&meta_v1::LABEL_SELECTOR)),
        opt(5, "manualSelector", Bool),
        opt(6, "template", Msg(&core_v1::POD_TEMPLATE_SPEC)),
        opt(8, "ttlSecondsAfterFinished", I32),
        opt(9, "completionMode", Str),
        opt(10, "suspend", Bool),
        opt(14, "podReplacementPolicy", Str),
        opt(15, "managedBy", Str),
    ],
};

/// `io.k8s.api.batch.v1.JobStatus`.
pub(crate) static JOB_STATUS: Message = Message {
    name: "io.k8s.api.batch.v1.JobStatus",
    fields: &[
        rep(1, "conditions", Msg(&JOB_CONDITION)),
        opt(2, "startTime", Time),
        opt(3, "completionTime", Time),
        nz(4, "active", I32),
        nz(5, "succeeded", I32),
        nz(6, "failed", I32),
        opt(11, "terminating", I32),
        nz(7, "completedIndexes", Str),
        opt(10, "failedIndexes", Str),
        opt(
            8,
            "uncountedTerminatedPods",
            Msg(&UNCOUNTED_TERMINATED_PODS),
        ),
        opt(9, "ready", I32),
    ],
};

/// `io.k8s.api.batch.v1.JobTemplateSpec`.
pub(crate) static JOB_TEMPLATE_SPEC: Message = Message {
    name: "io.k8s.api.batch.v1.JobTemplateSpec",
    fields: &[
        opt(1, "metadata", Msg(&meta_v1::OBJECT_META)),
        opt(2, "spec", Msg(&JOB_SPEC)),
    ],
};

/// `io.k8s.api.batch.v1.PodFailurePolicy`.
pub(crate) static POD_FAILURE_POLICY: Message = Message {
    name: "io.k8s.api.batch.v1.PodFailurePolicy",
    fields: &[rep(1, "rules", Msg(&POD_FAILURE_POLICY_RULE))],
};

/// `io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement`.
pub(crate) static POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: Message = Message {
    name: "io.k8s.api.batch.v1.PodFailurePolicyOnExitCodesRequirement",
    fields: &[
        opt(1, "containerName", Str),
        opt(2, "operator", Str),
        rep(3, "values", I32),
    ],
};

/// `io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern`.
pub(crate) static POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: Message = Message {
    name: "io.k8s.api.batch.v1.PodFailurePolicyOnPodConditionsPattern",
    fields: &[opt(1, "type", Str), opt(2, "status", Str)],
};

/// `io.k8s.api.batch.v1.PodFailurePolicyRule`.
pub(crate) static POD_FAILURE_POLICY_RULE: Message = Message {
    name: "io.k8s.api.batch.v1.PodFailurePolicyRule",
    fields: &[
        opt(1, "action", Str),
        opt(
            2,
            "onExitCodes",
            Msg(&POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
        ),
        rep(
            3,
            "onPodConditions",
            Msg(&POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN),
        ),
    ],
};

/// `io.k8s.api.batch.v1.SuccessPolicy`.
pub(crate) static SUCCESS_POLICY: Message = Message {
    name: "io.k8s.api.batch.v1.SuccessPolicy",
    fields: &[rep(1, "rules", Msg(&SUCCESS_POLICY_RULE))],
};

/// `io.k8s.api.batch.v1.SuccessPolicyRule`.
pub(crate) static SUCCESS_POLICY_RULE: Message = Message {
    name: "io.k8s.api.batch.v1.SuccessPolicyRule",
    fields: &[
        opt(1, "succeededIndexes", Str),
        opt(2, "succeededCount", I32),
    ],
};

/// `io.k8s.api.batch.v1.UncountedTerminatedPods`.
pub(crate) static UNCOUNTED_TERMINATED_PODS: Message = Message {
    name: "io.k8s.api.batch.v1.UncountedTerminatedPods",
    fields: &[rep(1, "succeeded", Str), rep(2, "failed", Str)],
};

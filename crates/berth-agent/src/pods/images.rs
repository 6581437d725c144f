//! Images for the pod's containers, as the kubelet's image manager: present according to the
//! container's pull policy, pulled with the pod's pull secrets, a back-off per image after a
//! failed pull (ImagePullBackOff, 10 s doubling to 5 minutes), and the kubelet's events
//! (Pulling, Pulled, Failed, BackOff, ErrImageNeverPull).

use std::time::{Duration, Instant};

use berth_events::EventType;
use k8s_openapi::api::core::v1::{Container, Pod};

use super::backoff;
use super::status::Waiting;
use super::worker::Worker;

/// What getting an image takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// It is there; `announce` with a Pulled event (not under pull policy Never, as the
    /// kubelet).
    Present {
        announce: bool,
    },
    /// Missing under pull policy Never.
    NeverPulled,
    /// A pull failed not long ago: the next waits until then.
    BackOff(Instant),
    Pull,
}

/// What an image under pull `policy` needs, `present` or not, with the image's pull
/// back-off ending at `backoff_until`.
fn need(policy: &str, present: bool, backoff_until: Option<Instant>, now: Instant) -> Need {
    match (policy, present) {
        ("Never", true) => Need::Present { announce: false },
        ("Never", false) => Need::NeverPulled,
        (p, true) if p != "Always" => Need::Present { announce: true },
        _ => match backoff_until {
            Some(until) if now < until => Need::BackOff(until),
            _ => Need::Pull,
        },
    }
}

impl Worker {
    /// Make the container's image present according to its pull policy; why not, as the
    /// container's waiting reason.
    pub(super) async fn ensure_image(&mut self, pod: &Pod, c: &Container) -> Result<(), Waiting> {
        let image = c.image.clone().unwrap_or_default();
        let policy = c
            .image_pull_policy
            .clone()
            .unwrap_or_else(|| default_pull_policy(&image).to_string());
        let images = self.shared.containers.images();
        let present = matches!(images.get(&image), Ok(Some(_)));
        let name = Some(c.name.as_str());
        let now = Instant::now();
        let backoff_until = self.image_backoff.get(&image).map(|(_, until)| *until);
        match need(&policy, present, backoff_until, now) {
            Need::Present { announce: false } => return Ok(()),
            Need::Present { announce: true } => {
                let msg = format!("Container image \"{image}\" already present on machine");
                self.event(pod, name, EventType::Normal, "Pulled", &msg)
                    .await;
                return Ok(());
            }
            Need::NeverPulled => {
                let msg =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                self.event(pod, name, EventType::Warning, "ErrImageNeverPull", &msg)
                    .await;
                return Err(Waiting::new("ErrImageNeverPull", Some(msg)));
            }
            Need::BackOff(until) => {
                let msg = format!("Back-off pulling image \"{image}\"");
                self.event(pod, name, EventType::Normal, "BackOff", &msg)
                    .await;
                self.wake_at(until);
                return Err(Waiting::new("ImagePullBackOff", Some(msg)));
            }
            Need::Pull => {}
        }
        self.event(
            pod,
            name,
            EventType::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        )
        .await;
        let started = Instant::now();
        let node_registries = match images.registries() {
            Ok(r) => r,
            Err(e) => {
                let msg = format!("Failed to pull image \"{image}\": {e}");
                self.event(pod, name, EventType::Warning, "Failed", &msg)
                    .await;
                return Err(Waiting::new("ErrImagePull", Some(msg)));
            }
        };
        let credentials =
            super::pull_secrets::resolve(&self.shared.client, pod, node_registries).await;
        if !credentials.unusable.is_empty() {
            let msg = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                credentials.unusable.join(", ")
            );
            self.event(
                pod,
                None,
                EventType::Warning,
                "FailedToRetrieveImagePullSecret",
                &msg,
            )
            .await;
        }
        match images
            .pull_using(&image, &credentials.registries, &|_| {})
            .await
        {
            Ok(img) => {
                self.image_backoff.remove(&image);
                let took = started.elapsed();
                self.event(
                    pod,
                    name,
                    EventType::Normal,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                        go_duration_ms(took),
                        go_duration_ms(took),
                        img.size
                    ),
                )
                .await;
                Ok(())
            }
            Err(e) => {
                let delay = self
                    .image_backoff
                    .get(&image)
                    .map_or(backoff::INITIAL, |(d, _)| (*d * 2).min(backoff::MAX));
                self.image_backoff
                    .insert(image.clone(), (delay, now + delay));
                self.wake_at(now + delay);
                let msg = format!("Failed to pull image \"{image}\": {e}");
                self.event(pod, name, EventType::Warning, "Failed", &msg)
                    .await;
                self.event(
                    pod,
                    name,
                    EventType::Warning,
                    "Failed",
                    "Error: ErrImagePull",
                )
                .await;
                Err(Waiting::new("ErrImagePull", Some(msg)))
            }
        }
    }
}

/// Always for `:latest` or untagged images, IfNotPresent otherwise (the API's default).
fn default_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else {
        match last.rsplit_once(':') {
            Some((_, "latest")) | None => "Always",
            Some(_) => "IfNotPresent",
        }
    }
}

/// A pull's duration as the kubelet's Pulled event prints it (`850ms`, `1.234s`).
fn go_duration_ms(d: Duration) -> String {
    let ms = d.as_millis();
    if ms >= 1000 {
        format!("{:.3}s", d.as_secs_f64())
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_defaults() {
        assert_eq!(default_pull_policy("busybox"), "Always");
        assert_eq!(default_pull_policy("busybox:latest"), "Always");
        assert_eq!(default_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(
            default_pull_policy("localhost:5000/busybox:1.36"),
            "IfNotPresent"
        );
        assert_eq!(default_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn what_each_pull_policy_needs() {
        let now = Instant::now();
        let later = Some(now + Duration::from_secs(10));
        let over = Some(now - Duration::from_secs(1));
        let cases = [
            ("Never", true, None, Need::Present { announce: false }),
            ("Never", false, None, Need::NeverPulled),
            ("Never", false, later, Need::NeverPulled),
            (
                "IfNotPresent",
                true,
                later,
                Need::Present { announce: true },
            ),
            ("IfNotPresent", false, None, Need::Pull),
            (
                "IfNotPresent",
                false,
                later,
                Need::BackOff(now + Duration::from_secs(10)),
            ),
            ("IfNotPresent", false, over, Need::Pull),
            ("Always", true, None, Need::Pull),
            (
                "Always",
                true,
                later,
                Need::BackOff(now + Duration::from_secs(10)),
            ),
        ];
        for (policy, present, until, want) in cases {
            assert_eq!(
                need(policy, present, until, now),
                want,
                "{policy}, present {present}, back-off {until:?}"
            );
        }
    }

    #[test]
    fn pull_durations_print_as_the_kubelet_does() {
        assert_eq!(go_duration_ms(Duration::from_millis(850)), "850ms");
        assert_eq!(go_duration_ms(Duration::from_millis(1234)), "1.234s");
    }
}

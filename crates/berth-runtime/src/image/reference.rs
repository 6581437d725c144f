//! Image references, parsed and normalized as Docker does:
//! `busybox` is `docker.io/library/busybox:latest`.

use std::fmt;

use super::error::{Error, Result};

/// The default registry of references without a registry part.
pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Registry host, with port if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub registry: String,
    /// Repository path (`library/busybox`).
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Manifest digest (`sha256:...`).
    pub digest: Option<String>,
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl ImageRef {
    /// Parse and normalize a reference.
    pub fn parse(reference: &str) -> Result<ImageRef> {
        let bad = |reason: &str| Error::InvalidReference {
            reference: reference.to_string(),
            reason: reason.to_string(),
        };
        if reference.is_empty() {
            return Err(bad("empty reference"));
        }
        if reference
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(bad("contains whitespace or control characters"));
        }
        let (name_tag, digest) = match reference.split_once('@') {
            Some((n, d)) => {
                validate_digest(d).map_err(|_| {
                    bad(&format!(
                        "bad digest {d:?}: expected sha256:<64 lowercase hex digits>"
                    ))
                })?;
                (n, Some(d.to_string()))
            }
            None => (reference, None),
        };
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if last_slash.is_none_or(|s| i > s) => {
                (&name_tag[..i], Some(name_tag[i + 1..].to_string()))
            }
            _ => (name_tag, None),
        };
        if name.is_empty() {
            return Err(bad("empty repository name"));
        }
        if let Some(tag) = &tag {
            validate_tag(tag).map_err(|r| bad(&r))?;
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.')
                    || first.contains(':')
                    || first.starts_with('[')
                    || first == "localhost" =>
            {
                validate_registry(first).map_err(|r| bad(&r))?;
                (first.to_string(), rest.to_string())
            }
            Some(_) => (DEFAULT_REGISTRY.to_string(), name.to_string()),
            None => (DEFAULT_REGISTRY.to_string(), format!("library/{name}")),
        };
        let registry = if registry == "index.docker.io" {
            DEFAULT_REGISTRY.to_string()
        } else {
            registry
        };
        let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        validate_repository(&repository).map_err(|r| bad(&r))?;
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad("name longer than 255 characters"));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t,
        };
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The registry host without port or brackets.
    pub fn host(&self) -> &str {
        let r = self.registry.as_str();
        if let Some(rest) = r.strip_prefix('[') {
            return rest.split(']').next().unwrap_or(rest);
        }
        r.split(':').next().unwrap_or(r)
    }

    /// Whether the registry is on this machine (reached over plain HTTP, as Docker does).
    pub fn is_local_registry(&self) -> bool {
        self.host() == "localhost"
            || self
                .host()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The reference in `oci-client`'s form.
    pub(crate) fn to_oci(&self) -> oci_client::Reference {
        match (&self.tag, &self.digest) {
            (Some(t), Some(d)) => oci_client::Reference::with_tag_and_digest(
                self.registry.clone(),
                self.repository.clone(),
                t.clone(),
                d.clone(),
            ),
            (_, Some(d)) => oci_client::Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                d.clone(),
            ),
            (t, None) => oci_client::Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                t.clone().unwrap_or_else(|| DEFAULT_TAG.to_string()),
            ),
        }
    }
}

/// Check that `digest` is `sha256:<64 lowercase hex digits>`; return the hex part.
pub fn validate_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(hex)
        }
        _ => Err(Error::InvalidDigest(digest.to_string())),
    }
}

fn validate_tag(tag: &str) -> std::result::Result<(), String> {
    let ok_first = tag
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let ok_rest = tag
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if tag.is_empty() {
        Err("empty tag".into())
    } else if tag.len() > MAX_TAG_LEN || !ok_first || !ok_rest {
        Err(format!(
            "bad tag {tag:?}: up to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
        ))
    } else {
        Ok(())
    }
}

fn validate_registry(registry: &str) -> std::result::Result<(), String> {
    let (host, port) = if let Some(rest) = registry.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad registry {registry:?}: unclosed '['"))?;
        if h.is_empty() || !h.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("bad registry {registry:?}: bad IPv6 address"));
        }
        match after {
            "" => return Ok(()),
            p => (
                "ok",
                Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| format!("bad registry {registry:?}"))?,
                ),
            ),
        }
    } else {
        match registry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (registry, None),
        }
    };
    let host_ok = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if !host_ok {
        return Err(format!("bad registry host in {registry:?}"));
    }
    if let Some(port) = port {
        if port.is_empty() || port.len() > 5 || !port.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("bad registry port in {registry:?}"));
        }
    }
    Ok(())
}

fn validate_repository(repository: &str) -> std::result::Result<(), String> {
    if repository.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(format!("repository name {repository:?} must be lowercase"));
    }
    for component in repository.split('/') {
        if !valid_path_component(component) {
            return Err(format!(
                "bad repository path component {component:?}: lowercase letters and digits, \
                 separated by '.', '_', '__' or dashes"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn s(r: &str) -> String {
        ImageRef::parse(r).unwrap().to_string()
    }

    #[test]
    fn normalizes_docker_hub_names() {
        assert_eq!(s("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(s("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(s("user/app"), "docker.io/user/app:latest");
        assert_eq!(s("docker.io/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(s("index.docker.io/library/x:y"), "docker.io/library/x:y");
    }

    #[test]
    fn registries_with_ports() {
        let r = ImageRef::parse("localhost:5000/x/y:tag").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "x/y");
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert!(r.is_local_registry());
        let r = ImageRef::parse("127.0.0.1:5000/a:b").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "a")
        );
        assert_eq!(r.host(), "127.0.0.1");
        assert!(r.is_local_registry());
        let r = ImageRef::parse("[::1]:5000/a").unwrap();
        assert_eq!(r.host(), "::1");
        assert!(r.is_local_registry());
        assert_eq!(r.to_string(), "[::1]:5000/a:latest");
        let r = ImageRef::parse("localhost/a").unwrap();
        assert_eq!(r.registry, "localhost");
        assert!(!ImageRef::parse("127.example.com/a")
            .unwrap()
            .is_local_registry());
        let r = ImageRef::parse("quay.io/org/app").unwrap();
        assert!(!r.is_local_registry());
        let r = ImageRef::parse("localhost:5000/x").unwrap();
        assert_eq!(r.tag.as_deref(), Some("latest"));
    }

    #[test]
    fn digests() {
        let r = ImageRef::parse(&format!("name@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/name@{D}"));
        assert_eq!(r.tag, None);
        let r = ImageRef::parse(&format!("name:tag@{D}")).unwrap();
        assert_eq!(r.tag.as_deref(), Some("tag"));
        assert_eq!(r.digest.as_deref(), Some(D));
        let r = ImageRef::parse(&format!("localhost:5000/n@{D}")).unwrap();
        assert_eq!(r.registry, "localhost:5000");
    }

    #[test]
    fn rejects_invalid() {
        for bad in [
            "",
            "Busybox",
            "docker.io/Library/busybox",
            "name@sha256:abc",
            "name@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "name@md5:0123",
            "name:",
            "name:-tag",
            ":tag",
            "a//b",
            "a/b/",
            "-a",
            "a b",
            "localhost:port/x",
            "name:tag:more",
        ] {
            let err = ImageRef::parse(bad).expect_err(bad);
            assert!(
                matches!(err, Error::InvalidReference { .. }),
                "{bad}: {err}"
            );
        }
        let err = ImageRef::parse("Busybox").unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
        let err = ImageRef::parse("x@sha256:12").unwrap_err().to_string();
        assert!(err.contains("bad digest"), "{err}");
        let err = ImageRef::parse("").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn separators_in_repository() {
        assert!(ImageRef::parse("x/a.b_c__d---e/f").is_ok());
        assert!(ImageRef::parse("a..b").is_err());
        assert!(ImageRef::parse("a___b").is_err());
    }
}

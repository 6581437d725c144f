//! Service account tokens through the real kubectl: `kubectl create token` (TokenRequest),
//! bearer-token authentication (`kubectl auth whoami`, ordinary requests), tokens bound to a
//! pod, and refusal once the account or the pod is gone, or for tokens that are not ours.

use berth_testkit::{BerthServer, CmdOutput};
use serde_json::Value;

const BERTH: &str = env!("CARGO_BIN_EXE_berth");

fn kubectl_ok(server: &BerthServer, args: &[&str]) -> String {
    let out = server.kubectl(args);
    assert!(out.ok, "kubectl {}: {}", args.join(" "), out.stderr);
    out.stdout
}

/// kubectl with only the token: no client certificate, the cluster CA for TLS.
fn with_token(server: &BerthServer, token: &str, args: &[&str]) -> CmdOutput {
    let ca = server.data_dir().join("tls").join("ca.crt");
    let url = server.url();
    let mut all = vec!["--kubeconfig=/dev/null", "--server", &url, "--token", token];
    let ca_flag = format!("--certificate-authority={}", ca.display());
    all.push(&ca_flag);
    all.extend_from_slice(args);
    berth_testkit::run(server.command("kubectl").args(&all))
}

fn whoami(server: &BerthServer, token: &str) -> Value {
    let out = with_token(server, token, &["auth", "whoami", "-o", "json"]);
    assert!(out.ok, "auth whoami: {}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn service_account_tokens_authenticate_until_their_objects_go() {
    let server = BerthServer::start(BERTH, &[]).expect("server starts");
    kubectl_ok(&server, &["create", "serviceaccount", "builder"]);
    let token = kubectl_ok(&server, &["create", "token", "builder"])
        .trim()
        .to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");

    // The token is the service account.
    let me = whoami(&server, &token);
    let user = &me["status"]["userInfo"];
    assert_eq!(user["username"], "system:serviceaccount:default:builder");
    let groups: Vec<&str> = user["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert!(
        groups.contains(&"system:serviceaccounts")
            && groups.contains(&"system:serviceaccounts:default")
            && groups.contains(&"system:authenticated"),
        "{groups:?}"
    );
    let sa_uid = kubectl_ok(
        &server,
        &["get", "sa", "builder", "-o", "jsonpath={.metadata.uid}"],
    );
    assert_eq!(user["uid"], sa_uid.as_str());
    // And it can do what requests do (no RBAC yet: authenticated users may do everything).
    let out = with_token(&server, &token, &["get", "serviceaccounts", "-o", "name"]);
    assert!(
        out.ok && out.stdout.contains("serviceaccount/builder"),
        "{}",
        out.stderr
    );

    // A TokenReview says the same.
    let review = format!(
        "apiVersion: authentication.k8s.io/v1\nkind: TokenReview\nspec:\n  token: {token}\n"
    );
    let out = server.kubectl_with(
        "kubectl",
        &["create", "-f", "-", "-o", "json"],
        Some(&review),
    );
    assert!(out.ok, "{}", out.stderr);
    let reviewed: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(reviewed["status"]["authenticated"], true);
    assert_eq!(
        reviewed["status"]["user"]["username"],
        "system:serviceaccount:default:builder"
    );

    // Bound to a pod: valid while that pod exists.
    let pod = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: holder\nspec:\n  containers:\n  - {name: c, image: busybox}\n";
    let out = server.kubectl_with("kubectl", &["apply", "-f", "-"], Some(pod));
    assert!(out.ok, "{}", out.stderr);
    let bound = kubectl_ok(
        &server,
        &[
            "create",
            "token",
            "builder",
            "--bound-object-kind",
            "Pod",
            "--bound-object-name",
            "holder",
        ],
    )
    .trim()
    .to_string();
    let me = whoami(&server, &bound);
    assert_eq!(
        me["status"]["userInfo"]["extra"]["authentication.kubernetes.io/pod-name"][0],
        "holder"
    );
    kubectl_ok(
        &server,
        &["delete", "pod", "holder", "--grace-period=0", "--force"],
    );
    let out = with_token(&server, &bound, &["get", "pods"]);
    assert!(
        !out.ok && out.stderr.contains("Unauthorized"),
        "a token bound to a deleted pod still works: {}",
        out.stderr
    );

    // Bad requests and foreign tokens.
    let short = server.kubectl(&["create", "token", "builder", "--duration", "5m"]);
    assert!(
        !short.ok
            && short
                .stderr
                .contains("may not specify a duration less than 10 minutes"),
        "{}",
        short.stderr
    );
    let missing = server.kubectl(&["create", "token", "nobody"]);
    assert!(
        !missing.ok && missing.stderr.contains("not found"),
        "{}",
        missing.stderr
    );
    let mut forged = token.clone();
    forged.push('x');
    let out = with_token(&server, &forged, &["get", "pods"]);
    assert!(
        !out.ok && out.stderr.contains("Unauthorized"),
        "{}",
        out.stderr
    );

    // Deleting the account ends its tokens.
    kubectl_ok(&server, &["delete", "serviceaccount", "builder"]);
    let out = with_token(&server, &token, &["get", "pods"]);
    assert!(
        !out.ok && out.stderr.contains("Unauthorized"),
        "{}",
        out.stderr
    );
}

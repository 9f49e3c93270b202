//! Certificates and SNIs from Ingress TLS, Service client certificates, CA certificates.

use base64::Engine;
use gatehouse_ingress::objects::Objects;
use gatehouse_ingress::translate::{translate, Settings, Translation};
use serde_json::{json, Value};

// Self-signed test material (EC P-256 leaf certificates, a 1024-bit RSA one with a PKCS#1 key, an EC CA).
const ONE_CRT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBhzCCAS6gAwIBAgIUDOSlg1Lii9oZ6JtHdGaDH1m6b/swCgYIKoZIzj0EAwIw\n\
GjEYMBYGA1UEAwwPb25lLmV4YW1wbGUuY29tMCAXDTI2MTEyNjA3MTQzOFoYDzIx\n\
MjYxMTAyMDcxNDM4WjAaMRgwFgYDVQQDDA9vbmUuZXhhbXBsZS5jb20wWTATBgcq\n\
hkjOPQIBBggqhkjOPQMBBwNCAARNA5JCklY09qHM7ANGVkYG51Ql6FcKVFBYW04c\n\
47lHYPpOpT+ImXsDdehJsDOt+hvjBWdcNHjsUtzgCGfXfZjHo1AwTjAdBgNVHQ4E\n\
FgQUabqlBiBA5qgImyJMLtZpS7f8iI4wHwYDVR0jBBgwFoAUabqlBiBA5qgImyJM\n\
LtZpS7f8iI4wDAYDVR0TAQH/BAIwADAKBggqhkjOPQQDAgNHADBEAiBJj4YGiiaz\n\
A9vtg3K2Y8hGtI8juKbETx0/ALUml6TU9gIgGRq5n3Thk1yYFhGKr6GG9XBmN2/5\n\
6CCGf07rKvc4hms=\n\
-----END CERTIFICATE-----\n\
";

const ONE_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgR9tfB0YLsIXlhg3l\n\
dALJj3JsFtdP7iE0bW9Y5fjpEyWhRANCAARNA5JCklY09qHM7ANGVkYG51Ql6FcK\n\
VFBYW04c47lHYPpOpT+ImXsDdehJsDOt+hvjBWdcNHjsUtzgCGfXfZjH\n\
-----END PRIVATE KEY-----\n\
";

const TWO_CRT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBhzCCAS2gAwIBAgITe3MJEHH31geH9zbMtmCQBZKzMDAKBggqhkjOPQQDAjAa\n\
MRgwFgYDVQQDDA90d28uZXhhbXBsZS5jb20wIBcNMjYxMTI2MDcxNDM4WhgPMjEy\n\
NjExMDIwNzE0MzhaMBoxGDAWBgNVBAMMD3R3by5leGFtcGxlLmNvbTBZMBMGByqG\n\
SM49AgEGCCqGSM49AwEHA0IABCAnUJmqjjPqAc29NHfuqpwg5y03xQdIlQZqFkqW\n\
7lezNYoAag+wNVJEUFpc2Eq5EdgAnU7IaTo+3YrLIMEZeWWjUDBOMB0GA1UdDgQW\n\
BBRPokcrxQ7LV5fawI7BnfL+peiAyzAfBgNVHSMEGDAWgBRPokcrxQ7LV5fawI7B\n\
nfL+peiAyzAMBgNVHRMBAf8EAjAAMAoGCCqGSM49BAMCA0gAMEUCIQC1SafdwGac\n\
bgetpBMkfVEwqKkpSzR5YkF2TgCJmho/+AIgaQkuXa769ifoMX4ytv/fUKpD1C50\n\
Gcsqgl9BxZh6xn4=\n\
-----END CERTIFICATE-----\n\
";

const TWO_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgp6649x4WOolGCXLP\n\
0FuJlKk8enwr6jDB2zDMZ5fx1DihRANCAAQgJ1CZqo4z6gHNvTR37qqcIOctN8UH\n\
SJUGahZKlu5XszWKAGoPsDVSRFBaXNhKuRHYAJ1OyGk6Pt2KyyDBGXll\n\
-----END PRIVATE KEY-----\n\
";

const RSA_CRT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIICDzCCAXigAwIBAgIUZSeYvdzcNHyPCk6XmhzMqfRpRUswDQYJKoZIhvcNAQEL\n\
BQAwGjEYMBYGA1UEAwwPcnNhLmV4YW1wbGUuY29tMCAXDTI2MTEyNjA3MTQzOFoY\n\
DzIxMjYxMTAyMDcxNDM4WjAaMRgwFgYDVQQDDA9yc2EuZXhhbXBsZS5jb20wgZ8w\n\
DQYJKoZIhvcNAQEBBQADgY0AMIGJAoGBALwdNfdoo2kvc/WQt3Wnh8JlDkspqeeY\n\
RM08+12KuBv0IJW+uTReFo/1JF/e5Bopn8GIoKJxNiszpu+AlLoyrmriPDKwdvK9\n\
YiCbtKfWNLhUA8GgosWyKE94psk5PBMTPoTUor76rAEwDIBzHgHR+k9WC73Y4+GN\n\
qBQV3mNRkoKLAgMBAAGjUDBOMB0GA1UdDgQWBBTECamXIPqHTtGC1jJF+OJACRwb\n\
zzAfBgNVHSMEGDAWgBTECamXIPqHTtGC1jJF+OJACRwbzzAMBgNVHRMBAf8EAjAA\n\
MA0GCSqGSIb3DQEBCwUAA4GBAFE9la7k7xPQR3xq8qrK3Jq9d3O6NnhsJQTfwOUy\n\
KRM86GmdAplYkrUu8zLEBSwmlSIfnZY3jOueLqF6437+HQsiSOWxGlir6jtK2W5s\n\
y50oIOKBJGGucxVX8vUHuLL9Ft6M5x/rkflE30qEo/5XWi+lK3VCqF7dQG5sGhy0\n\
VaAx\n\
-----END CERTIFICATE-----\n\
";

const RSA_PKCS1_KEY: &str = "\
-----BEGIN RSA PRIVATE KEY-----\n\
MIICXAIBAAKBgQC8HTX3aKNpL3P1kLd1p4fCZQ5LKannmETNPPtdirgb9CCVvrk0\n\
XhaP9SRf3uQaKZ/BiKCicTYrM6bvgJS6Mq5q4jwysHbyvWIgm7Sn1jS4VAPBoKLF\n\
sihPeKbJOTwTEz6E1KK++qwBMAyAcx4B0fpPVgu92OPhjagUFd5jUZKCiwIDAQAB\n\
AoGAKlZwtPRKAvx5HsWpZMOF3IyeAPCpmsQ8h+y3rj/wW+pAAzPfvxeGAHRt8V3a\n\
/MBtgkNb0/Oi+2ouoizQTG/nrSfhczqXqgBUlCehoUsaOk4KndTjRagJyupUw4hw\n\
DgPNUK40ugLjRwShGJRZQd1owMoAuWcDyJnPxbWWS9QFtwECQQDc33/NH5eWXT0H\n\
sRB3o4Cx7rA9q5XQA272ODLVh0TXsT8RTCLUCaSj9gGWkCdcHwb01HXvpvdZOZ7f\n\
qPYlUElBAkEA2gf7igv8fkZP+syyHpoCfA6LVoUCoY4Jkk0GAIHFc/hijCggg5H6\n\
qVAzTa7Tb+Aar5GuUMwtafxDnp80IsFsywJAFwBrhcgZeD5Dgc6NwXfUijMqRXHe\n\
CyigYKHfoV8R60h5IesE4YITlEOlTLG8d5p/lfWeRpPjxHX8tpwY7i/bQQJAW9Zi\n\
8Jnt5+6L/9M678LlawXhUTdDjXM7uuEwtwPyfM/SCsFYOLNDhw/eHEmYjBY0h2Fw\n\
sF3gfzUf8m+S0VTyEwJBAKCYHuIRmqno9tY4ZabhK1F9nTkf3/y7UA7fdEFckDOd\n\
ylPen/7b13AS9cuOfnLDaQhLIvBBQet1ay2Pk4kz0bw=\n\
-----END RSA PRIVATE KEY-----\n\
";

const CA_CRT: &str = "\
-----BEGIN CERTIFICATE-----\n\
MIIBezCCASGgAwIBAgIUEAktzvMI5tkQA5ps9UiDjkGxyaUwCgYIKoZIzj0EAwIw\n\
EjEQMA4GA1UEAwwHdGVzdC1jYTAgFw0yNjExMjYwNzE0MzhaGA8yMTI2MTEwMjA3\n\
MTQzOFowEjEQMA4GA1UEAwwHdGVzdC1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n\
A0IABIVnUl43VrS/I9HFmCxjDac/Bp09eCqBDQI/K5gavKqdvIS8XBYhb5/w5PqK\n\
hkJNaLV+3JoMa+Qqh0KONDTvh92jUzBRMB0GA1UdDgQWBBQ9rWVlVWbv0fsenwwl\n\
DOYgRYVZSjAfBgNVHSMEGDAWgBQ9rWVlVWbv0fsenwwlDOYgRYVZSjAPBgNVHRMB\n\
Af8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQD6AqX49TXTrTTRm991IdAlGyvo\n\
RuI109Sc914eZPmFcwIgUbQGNEqtM0HI4PH8g1gCXwD6gEzMygb7THDvX5Z9Glc=\n\
-----END CERTIFICATE-----\n\
";

fn run(yaml: &str) -> Translation {
    translate(&Objects::from_yaml(yaml).expect("manifests parse"), &Settings::default())
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn tls_secret(name: &str, uid: &str, created: &str, crt: &str, key: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: ns\n  uid: {uid}\n  \
         creationTimestamp: \"{created}\"\ntype: kubernetes.io/tls\ndata:\n  tls.crt: {}\n  tls.key: {}\n",
        b64(crt),
        b64(key)
    )
}

/// An Ingress (created at `created`) with the given TLS sections `(secret, [hosts])`, and its Service.
fn ingress(name: &str, created: &str, tls: &[(&str, &[&str])]) -> String {
    let tls: String =
        tls.iter().map(|(secret, hosts)| format!("  - secretName: {secret}\n    hosts: {hosts:?}\n")).collect();
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: ns\n  \
         creationTimestamp: \"{created}\"\nspec:\n  ingressClassName: kong\n  tls:\n{tls}  rules:\n  - http:\n      \
         paths:\n      - path: /\n        pathType: Prefix\n        backend:\n          service:\n            name: svc\n  \
                   port:\n              number: 80\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc\n  \
         namespace: ns\nspec:\n  ports:\n  - port: 80\n"
    )
}

const T1: &str = "2024-01-01T00:00:00Z";
const T2: &str = "2024-02-01T00:00:00Z";

fn certs(t: &Translation) -> Vec<Value> {
    t.config["certificates"].as_array().cloned().unwrap_or_default()
}

fn sni_names(cert: &Value) -> Vec<String> {
    cert["snis"].as_array().into_iter().flatten().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

#[test]
fn tls_sections_become_certificates_with_snis() {
    let yaml = format!(
        "{}{}",
        ingress("ing", T1, &[("one", &["b.example.com", "a.example.com"])]),
        tls_secret("one", "uid-one", T1, ONE_CRT, ONE_KEY)
    );
    let t = run(&yaml);
    let c = &certs(&t)[0];
    assert_eq!(c["id"], "uid-one", "the certificate id is the Secret UID");
    assert_eq!(c["cert"], ONE_CRT.trim());
    assert_eq!(c["key"], ONE_KEY.trim());
    assert_eq!(sni_names(c), ["a.example.com", "b.example.com"], "SNIs are sorted");
    assert_eq!(c["snis"][0]["certificate"], json!({"id": "uid-one"}));
    assert_eq!(
        c["tags"],
        json!(["k8s-name:one", "k8s-namespace:ns", "k8s-kind:Secret", "k8s-uid:uid-one", "k8s-version:v1"])
    );
    assert!(t.config["services"][0]["routes"][0].get("protocols").is_none(), "TLS does not change protocols");
}

#[test]
fn first_host_claim_wins() {
    let yaml = format!(
        "{}{}{}{}",
        ingress("first", T1, &[("one", &["shared.example.com", "one.example.com"])]),
        ingress("second", T2, &[("two", &["shared.example.com"])]),
        tls_secret("one", "uid-one", T1, ONE_CRT, ONE_KEY),
        tls_secret("two", "uid-two", T1, TWO_CRT, TWO_KEY),
    );
    let t = run(&yaml);
    let by_id = |id: &str| certs(&t).into_iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(sni_names(&by_id("uid-one")), ["one.example.com", "shared.example.com"]);
    assert!(by_id("uid-two").get("snis").is_none(), "all its hosts were claimed: a certificate without SNIs");
    let mut sorted = certs(&t);
    sorted.sort_by(|a, b| b["cert"].as_str().cmp(&a["cert"].as_str()));
    assert_eq!(certs(&t), sorted, "certificates sort by PEM, descending");
}

#[test]
fn identical_certificates_merge_and_the_oldest_secret_wins() {
    let yaml = format!(
        "{}{}{}",
        ingress("ing", T1, &[("newer", &["x.example.com"]), ("older", &["y.example.com"])]),
        tls_secret("newer", "uid-a", T2, ONE_CRT, ONE_KEY),
        tls_secret("older", "uid-b", T1, ONE_CRT, ONE_KEY),
    );
    let t = run(&yaml);
    assert_eq!(certs(&t).len(), 1);
    assert_eq!(certs(&t)[0]["id"], "uid-b");
    assert_eq!(sni_names(&certs(&t)[0]), ["x.example.com", "y.example.com"]);
    let same_time = yaml.replace(T2, T1);
    assert_eq!(certs(&run(&same_time))[0]["id"], "uid-a", "same age: the smaller UID wins");
}

#[test]
fn invalid_or_missing_secrets_fail() {
    let yaml = format!(
        "{}{}",
        ingress("ing", T1, &[("mismatch", &["m.example.com"]), ("absent", &["n.example.com"])]),
        tls_secret("mismatch", "uid-m", T1, ONE_CRT, TWO_KEY),
    );
    let t = run(&yaml);
    assert!(certs(&t).is_empty());
    let msgs: Vec<_> = t.failures.iter().map(|f| (f.object.kind.as_str(), f.message.as_str())).collect();
    assert!(msgs.contains(&("Secret", "failed to construct certificate from secret")), "{msgs:?}");
    assert!(msgs.contains(&("Ingress", "Failed to fetch the secret (ns/absent)")), "{msgs:?}");
}

#[test]
fn pkcs1_rsa_keys_are_accepted() {
    let yaml = format!(
        "{}{}",
        ingress("ing", T1, &[("rsa", &["rsa.example.com"])]),
        tls_secret("rsa", "uid-rsa", T1, RSA_CRT, RSA_PKCS1_KEY)
    );
    assert_eq!(certs(&run(&yaml))[0]["id"], "uid-rsa");
}

fn with_service_annotations(yaml: &str, anns: &str) -> String {
    yaml.replace(
        "kind: Service\nmetadata:\n  name: svc\n",
        &format!("kind: Service\nmetadata:\n  name: svc\n  annotations:\n{anns}"),
    )
}

#[test]
fn client_certificates() {
    let base = format!("{}{}", ingress("ing", T1, &[]), tls_secret("client", "uid-c", T1, ONE_CRT, ONE_KEY));
    let https = "    konghq.com/protocol: https\n    konghq.com/client-cert: client\n";
    let t = run(&with_service_annotations(&base, https));
    assert_eq!(t.config["services"][0]["client_certificate"], "uid-c");
    let c = &certs(&t)[0];
    assert_eq!(c["id"], "uid-c");
    assert!(c.get("snis").is_none());

    let http = "    konghq.com/client-cert: client\n";
    let t = run(&with_service_annotations(&base, http));
    assert!(t.config["services"][0].get("client_certificate").is_none());
    assert!(t.failures.iter().any(|f| f.message.contains("incompatible service protocol")));
}

fn ca_secret(name: &str, id: &str, pem: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: ns\n  labels:\n    \
         konghq.com/ca-cert: \"true\"\ndata:\n  id: {}\n  cert: {}\n",
        b64(id),
        b64(pem)
    )
}

#[test]
fn ca_certificates() {
    let yaml = format!("{}{}", ca_secret("ca", "ca-id", CA_CRT), ca_secret("leaf", "leaf-id", ONE_CRT));
    let t = run(&yaml);
    assert_eq!(
        t.config["ca_certificates"],
        json!([{"id": "ca-id", "cert": CA_CRT, "tags": [
        "k8s-name:ca", "k8s-namespace:ns", "k8s-kind:Secret", "k8s-version:v1"]}])
    );
    assert!(t.failures.iter().any(|f| f.object.name == "leaf" && f.message.contains("'CA' basic constraint")));

    let svc = "    konghq.com/protocol: https\n    konghq.com/tls-verify: \"true\"\n    \
               konghq.com/ca-certificates-secrets: ca\n";
    let t = run(&with_service_annotations(
        &format!("{}{}", ingress("ing", T1, &[]), ca_secret("ca", "ca-id", CA_CRT)),
        svc,
    ));
    assert_eq!(t.config["services"][0]["ca_certificates"], json!(["ca-id"]));
    let no_verify = svc.replace("\"true\"", "\"false\"");
    let t = run(&with_service_annotations(
        &format!("{}{}", ingress("ing", T1, &[]), ca_secret("ca", "ca-id", CA_CRT)),
        &no_verify,
    ));
    assert!(t.config["services"][0].get("ca_certificates").is_none());
    assert!(t.failures.iter().any(|f| f.message.contains("without TLS verification")));
}

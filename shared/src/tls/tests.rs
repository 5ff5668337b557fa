use super::*;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[test]
fn every_compiled_in_root_is_trusted() {
    let trust = Trust::load(None).unwrap();
    assert_eq!(trust.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
    assert!(trust.len() > 100, "{} roots", trust.len());
}

#[test]
fn the_pem_bundle_holds_exactly_the_roots() {
    let trust = Trust::load(None).unwrap();
    let pem = pem_bundle(&trust.certs);
    let back: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(back, trust.certs);
}

fn file(contents: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(contents).unwrap();
    f
}

#[test]
fn a_bad_cert_file_is_an_error_naming_the_file_and_the_certificate() {
    let missing = Path::new("/nonexistent/ca.pem");
    let e = Trust::load(Some(missing)).err().unwrap();
    assert!(e.starts_with("could not read /nonexistent/ca.pem"), "{e}");

    let empty = file(b"no certificates here\n");
    let e = Trust::load(Some(empty.path())).err().unwrap();
    assert!(e.ends_with("holds no PEM certificate"), "{e}");
    assert!(e.contains(&empty.path().display().to_string()), "{e}");

    let not_a_cert = "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n";
    let garbage = file(not_a_cert.as_bytes());
    let e = Trust::load(Some(garbage.path())).err().unwrap();
    assert!(e.ends_with("none of its 1 certificates is usable"), "{e}");

    let not_pem = file(b"-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----\n");
    let e = Trust::load(Some(not_pem.path())).err().unwrap();
    assert!(e.contains("certificate 1 is not PEM"), "{e}");
}

#[test]
fn an_unusable_entry_in_a_bundle_is_skipped_and_the_rest_kept() {
    let ca = test_ca();
    let bundle = format!(
        "{}-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        ca.ca_pem
    );
    let bundle = file(bundle.as_bytes());
    let trust = Trust::load(Some(bundle.path())).unwrap();
    assert_eq!(
        trust.len(),
        webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1
    );
}

#[test]
fn a_failed_load_is_a_configuration_error_naming_ssl_cert_file() {
    let failed = Box::leak(Box::new(Trust::load(Some(Path::new(
        "/nonexistent/ca.pem",
    )))));
    let e = settled(failed).err().unwrap();
    assert_eq!(e.var, "SSL_CERT_FILE");
    assert!(
        e.to_string()
            .starts_with("configuration: SSL_CERT_FILE: could not read /nonexistent/ca.pem"),
        "{e}"
    );
}

struct TestCa {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

/// A private CA and a server certificate for `localhost` that it signed.
fn test_ca() -> TestCa {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vidgen test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    TestCa {
        ca_pem: ca_cert.pem(),
        server: Arc::new(server),
    }
}

/// A TLS server on 127.0.0.1 answering every request with an empty S3 bucket list;
/// counts the requests that arrived over a completed handshake.
async fn tls_server(config: Arc<rustls::ServerConfig>) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let count = count.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let body = "<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, served)
}

#[tokio::test]
async fn reqwest_trusts_a_private_ca_only_from_the_cert_file() {
    let ca = test_ca();
    let (port, served) = tls_server(ca.server.clone()).await;
    let url = format!("https://localhost:{port}/");

    let public_only = Trust::load(None).unwrap();
    let client = public_only.reqwest_builder().build().unwrap();
    let refused = client.get(&url).send().await.err().unwrap();
    let chain = format!("{:?}", refused);
    assert!(chain.contains("UnknownIssuer"), "{chain}");
    assert_eq!(served.load(Ordering::SeqCst), 0);

    let ca_file = file(ca.ca_pem.as_bytes());
    let with_ca = Trust::load(Some(ca_file.path())).unwrap();
    assert_eq!(with_ca.len(), public_only.len() + 1);
    let client = with_ca.reqwest_builder().build().unwrap();
    let body = client.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("ListAllMyBucketsResult"), "{body}");
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

async fn list_buckets(trust: &Trust, port: u16) -> Result<(), String> {
    let sdk = crate::aws::static_sdk_config(&format!("https://localhost:{port}"), "k", "s")
        .into_builder()
        .http_client(trust.sdk_http_client().unwrap())
        .build();
    let s3 = crate::aws::s3_client(&sdk, true);
    s3.list_buckets()
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("{:?}", e))
}

#[tokio::test]
async fn the_aws_sdk_client_has_the_same_trust() {
    let ca = test_ca();
    let (port, served) = tls_server(ca.server.clone()).await;

    let refused = list_buckets(&Trust::load(None).unwrap(), port)
        .await
        .err()
        .unwrap();
    assert!(refused.contains("UnknownIssuer"), "{refused}");
    assert_eq!(served.load(Ordering::SeqCst), 0);

    let ca_file = file(ca.ca_pem.as_bytes());
    let with_ca = Trust::load(Some(ca_file.path())).unwrap();
    list_buckets(&with_ca, port).await.unwrap();
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

//! The TLS trust of every outbound HTTPS client: Mozilla's root certificates compiled
//! into the binary (`webpki-root-certs`), plus any in the file `SSL_CERT_FILE` names,
//! parsed once per process and shared by the provider clients, the webhook sender, the
//! JWKS fetchers and the AWS SDK.
//!
//! Why not the system store: reading it opens and parses every file of the certificate
//! directory (about 300 on Debian), and each reqwest client did it again; a step function
//! built four clients at init, which was most of its cold start (`benches/cold_start.sh`).
//! Compiled-in roots cost no I/O and are the same on every Lambda image. A private CA
//! (a TLS-intercepting proxy, a test server) goes in `SSL_CERT_FILE`, as with curl or
//! OpenSSL; `SSL_CERT_DIR` is not read.

use crate::config::ConfigError;
use aws_smithy_http_client::tls::{self as sdk_tls, rustls_provider::CryptoMode};
use aws_smithy_http_client::Builder as SdkHttpBuilder;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use base64::Engine;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The variable naming a PEM file of extra trusted roots.
pub const CERT_FILE_VAR: &str = "SSL_CERT_FILE";

/// A parsed set of trusted roots and the rustls client settings built on it.
pub struct Trust {
    /// Every root, compiled-in first; each one parsed by rustls already.
    certs: Vec<CertificateDer<'static>>,
    config: rustls::ClientConfig,
}

impl Trust {
    /// The compiled-in roots, plus the PEM certificates in `extra` (a path from
    /// `SSL_CERT_FILE`). A file that cannot be read or parsed as PEM, or holds no
    /// certificate rustls can use, is an error naming it: a proxy's CA silently missing
    /// would only show later as every provider call failing. Single unusable entries in
    /// a bundle that has usable ones are skipped with a warning, as the system store's
    /// loader does: `SSL_CERT_FILE` often names a whole distribution bundle.
    pub fn load(extra: Option<&Path>) -> Result<Trust, String> {
        let mut roots = rustls::RootCertStore::empty();
        let mut certs = Vec::with_capacity(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() + 1);
        for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            // Mozilla's list as its crate ships it: each parses (a unit test checks).
            if roots.add(cert.clone()).is_ok() {
                certs.push(cert.clone());
            }
        }
        if let Some(path) = extra {
            let shown = path.display();
            let pem = std::fs::read(path).map_err(|e| format!("could not read {shown}: {e}"))?;
            let (mut found, mut usable) = (0, 0);
            for (n, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
                let cert =
                    cert.map_err(|e| format!("{shown}: certificate {} is not PEM: {e:?}", n + 1))?;
                found += 1;
                match roots.add(cert.clone()) {
                    Ok(()) => {
                        certs.push(cert);
                        usable += 1;
                    }
                    Err(e) => tracing::warn!(
                        file = %shown,
                        certificate = n + 1,
                        error = %e,
                        "skipping a certificate rustls cannot use"
                    ),
                }
            }
            if found == 0 {
                return Err(format!("{shown} holds no PEM certificate"));
            }
            if usable == 0 {
                return Err(format!(
                    "{shown}: none of its {found} certificates is usable"
                ));
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        // What reqwest offers when it builds the config itself (its http2 feature is on).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Trust { certs, config })
    }

    /// How many roots are trusted.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true: the compiled-in roots are always there.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// A reqwest builder that trusts these roots; the rest is the caller's.
    pub fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        // A clone shares the parsed roots and the crypto provider (both behind `Arc`s).
        reqwest::Client::builder().tls_backend_preconfigured(self.config.clone())
    }

    /// The AWS SDK's HTTP client (hyper and rustls with aws-lc, as its default), trusting
    /// these roots and not the system's. The SDK takes roots only as PEM; it parses them
    /// when it makes its connector, on the first request (see [`ConnectOnFirstRequest`]).
    pub fn sdk_http_client(&self) -> Result<SharedHttpClient, ConfigError> {
        let pem = pem_bundle(&self.certs);
        let store = sdk_tls::TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(pem);
        let context = sdk_tls::TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| ConfigError {
                var: CERT_FILE_VAR.into(),
                message: format!("the AWS SDK's TLS settings: {e}"),
            })?;
        let client = SdkHttpBuilder::new()
            .tls_provider(sdk_tls::Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(context)
            .build_https();
        Ok(SharedHttpClient::new(ConnectOnFirstRequest(client)))
    }
}

/// The SDK's HTTP client without its eager check. On each service client made from
/// the config, the SDK's own client builds a whole TLS connector in
/// `validate_base_client_config`, parsing every root certificate, and drops it: a
/// function making six clients parsed the roots six times at init (`perf` of
/// ws-notifier's init: PEM decoding was its largest cost). Left to the default no-op,
/// the wrapped client builds its connector on the first request and keeps it for every
/// client with the same connector settings.
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// One PEM document holding `certs`.
fn pem_bundle(certs: &[CertificateDer<'_>]) -> Vec<u8> {
    let mut out = String::new();
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        // 48 bytes make one 64-character PEM line.
        for line in cert.as_ref().chunks(48) {
            base64::engine::general_purpose::STANDARD.encode_string(line, &mut out);
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out.into_bytes()
}

static PROCESS_TRUST: OnceLock<Result<Trust, String>> = OnceLock::new();

/// Load this process's trust: the compiled-in roots and `cert_file` (the settings'
/// `SSL_CERT_FILE`). A Lambda's init calls it before it builds any client; later calls
/// return the first trust.
pub fn init(cert_file: Option<&Path>) -> Result<&'static Trust, ConfigError> {
    settled(PROCESS_TRUST.get_or_init(|| Trust::load(cert_file)))
}

/// This process's trust: the one [`init`] loaded, or, in a process that never called it
/// (`vidgen`, tests), one from `SSL_CERT_FILE` in the environment.
pub fn trust() -> Result<&'static Trust, ConfigError> {
    settled(PROCESS_TRUST.get_or_init(|| {
        let extra = crate::settings::process_env(CERT_FILE_VAR).filter(|v| !v.is_empty());
        Trust::load(extra.as_deref().map(Path::new))
    }))
}

fn settled(loaded: &'static Result<Trust, String>) -> Result<&'static Trust, ConfigError> {
    loaded.as_ref().map_err(|message| ConfigError {
        var: CERT_FILE_VAR.into(),
        message: message.clone(),
    })
}

/// A reqwest builder with this process's trust: how every outbound client starts.
pub fn reqwest_builder() -> Result<reqwest::ClientBuilder, ConfigError> {
    Ok(trust()?.reqwest_builder())
}

#[cfg(test)]
mod tests;

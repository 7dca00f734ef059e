//! HTTP batches: each delivery is one `POST` of NDJSON, a JSON array of the events, or an
//! OTLP/HTTP `ExportLogsServiceRequest` (JSON), optionally gzipped, with the configured headers
//! and bearer token, over a kept-alive HTTP/1.1 connection.
//!
//! The client is a small hand-written HTTP/1.1 one over `std::net::TcpStream` (and rustls for
//! https): a log shipper sends one kind of request and reads a status line, a few headers and
//! a body it discards, so it needs no HTTP crate and no async runtime. https verifies the
//! server's certificate against the system's CA store (or `ca_file`) unless `verify_tls` is
//! off. 2xx is delivered; 408, 429 and 5xx (with
//! `Retry-After` in seconds honoured) and connection errors are retried; other statuses are
//! refused for good (the batch is dropped and counted).

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::json::Value;
use super::otlp;
use super::shipper::{DeliveryError, Transport};

/// What a delivery's body holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFormat {
    /// The lines as they are (`application/x-ndjson`).
    Ndjson,
    /// `[event, event, ...]` (`application/json`).
    JsonArray,
    /// OTLP/HTTP logs, JSON encoding (`application/json`).
    Otlp,
}

/// Where and how an HTTP sink posts. Its `Debug` never shows the token or header values.
#[derive(Clone, PartialEq)]
pub struct HttpConfig {
    pub url: String,
    pub format: HttpFormat,
    /// Extra request headers (e.g. an API key header); values are treated as secrets.
    pub headers: Vec<(String, String)>,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Option<String>,
    pub gzip: bool,
    /// Connect, write and read timeout of one request.
    pub timeout: Duration,
    /// OTLP resource attributes (e.g. `service.name`).
    pub resource: Vec<(String, Value)>,
    /// https: verify the server's certificate (and name). Off only for testing.
    pub verify_tls: bool,
    /// https: trust the CA certificates in this PEM file instead of the system's store.
    pub ca_file: Option<PathBuf>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConfig")
            .field("url", &redacted_url(&self.url))
            .field("format", &self.format)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("token", &self.token.as_ref().map(|_| "**********"))
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("verify_tls", &self.verify_tls)
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// A parsed `http://host[:port]/path?query` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, at least `/`.
    pub target: String,
}

/// Parse an `http://` or `https://` URL. User info (`user:pass@`) is refused: put credentials
/// in `token` or `headers`, where they are kept out of names and messages.
pub fn parse_url(url: &str) -> io::Result<Url> {
    let bad = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("url {}: {why}", redacted_url(url)),
        )
    };
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(bad("must start with http:// or https://"));
    };
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(bad(
            "must not contain credentials (user:password@); use token or headers",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| bad("unclosed [ in the host"))?;
        let port = v6[end + 1..].strip_prefix(':');
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad("has an invalid port"))?,
        None if tls => 443,
        None => 80,
    };
    let target = if target.starts_with('?') {
        format!("/{target}")
    } else {
        target.to_owned()
    };
    Ok(Url {
        tls,
        host: host.to_owned(),
        port,
        target,
    })
}

/// The URL without its query (which may carry an API key) and user info: safe in names and
/// messages.
pub fn redacted_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit('@').next().unwrap_or_default();
            format!("{scheme}://{host}{path}")
        }
        None => no_query.to_owned(),
    }
}

/// A plain or TLS connection.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Accepts any certificate: `verify_tls = false`. Signatures are still checked, so the
/// handshake is sound; only the server's identity is not.
#[derive(Debug)]
struct NoVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The TLS client configuration for `cfg`: the system's CA store (or `ca_file`), or no
/// verification at all with `verify_tls = false`.
fn tls_config(cfg: &HttpConfig) -> io::Result<Arc<ClientConfig>> {
    let invalid = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(format!("TLS: {e}")))?;
    let config = if cfg.verify_tls {
        let mut roots = RootCertStore::empty();
        match &cfg.ca_file {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
                for cert in certs {
                    let cert =
                        cert.map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
                }
            }
            None => {
                roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
            }
        }
        if roots.is_empty() {
            return Err(invalid(
                "https: no CA certificates found to verify the server with; install the \
                 system's CA bundle (e.g. the ca-certificates package) or set ca_file"
                    .to_owned(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Posts deliveries to one URL over a kept-alive connection.
pub struct HttpSender {
    cfg: HttpConfig,
    url: Url,
    /// The request head without `Content-Length` (built once; holds the secrets).
    head: Vec<u8>,
    tls: Option<Arc<ClientConfig>>,
    conn: Option<BufReader<Stream>>,
}

impl fmt::Debug for HttpSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSender")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

/// A response's status and what the client needs of its headers.
struct Response {
    status: u16,
    retry_after: Option<Duration>,
    keep_alive: bool,
}

impl HttpSender {
    /// A sender for `cfg` (no connection yet).
    ///
    /// # Errors
    /// `InvalidInput` naming the problem with the URL, a header or the TLS settings.
    pub fn new(cfg: HttpConfig) -> io::Result<HttpSender> {
        let mut url = parse_url(&cfg.url)?;
        let tls = if url.tls {
            Some(tls_config(&cfg)?)
        } else {
            None
        };
        if cfg.format == HttpFormat::Otlp && (url.target == "/" || url.target.is_empty()) {
            url.target = "/v1/logs".to_owned();
        }
        let mut head = Vec::new();
        let host = if url.host.contains(':') {
            format!("[{}]", url.host)
        } else {
            url.host.clone()
        };
        let host = if url.port == if url.tls { 443 } else { 80 } {
            host
        } else {
            format!("{host}:{}", url.port)
        };
        head.extend_from_slice(
            format!("POST {} HTTP/1.1\r\nHost: {host}\r\n", url.target).as_bytes(),
        );
        head.extend_from_slice(b"User-Agent: ferrolog\r\nAccept: */*\r\n");
        let content_type = match cfg.format {
            HttpFormat::Ndjson => "application/x-ndjson",
            HttpFormat::JsonArray | HttpFormat::Otlp => "application/json",
        };
        head.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
        if cfg.gzip {
            head.extend_from_slice(b"Content-Encoding: gzip\r\n");
        }
        if let Some(token) = &cfg.token {
            check_header_value("token", token)?;
            head.extend_from_slice(format!("Authorization: Bearer {token}\r\n").as_bytes());
        }
        for (k, v) in &cfg.headers {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
            {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("header name {k:?} must be letters, digits, '-' or '_'"),
                ));
            }
            if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("host") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("header {k} is set by the sink itself"),
                ));
            }
            check_header_value(k, v)?;
            head.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        Ok(HttpSender {
            cfg,
            url,
            head,
            tls,
            conn: None,
        })
    }

    /// Another sender to the same place, without a connection (for a new sender thread).
    pub fn fresh(&self) -> HttpSender {
        HttpSender {
            cfg: self.cfg.clone(),
            url: self.url.clone(),
            head: self.head.clone(),
            tls: self.tls.clone(),
            conn: None,
        }
    }

    /// The request body for `lines`.
    fn body(&self, lines: &[u8]) -> io::Result<Vec<u8>> {
        let raw = match self.cfg.format {
            HttpFormat::Ndjson => lines.to_vec(),
            HttpFormat::JsonArray => {
                let mut out = Vec::with_capacity(lines.len() + 2);
                out.push(b'[');
                for (i, line) in lines
                    .split(|&b| b == b'\n')
                    .filter(|l| !l.is_empty())
                    .enumerate()
                {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(line);
                }
                out.push(b']');
                out
            }
            HttpFormat::Otlp => otlp::export_request(lines, &self.cfg.resource),
        };
        if !self.cfg.gzip {
            return Ok(raw);
        }
        let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::fast());
        gz.write_all(&raw)?;
        gz.finish()
    }

    fn connect(&self) -> io::Result<BufReader<Stream>> {
        let addrs = (self.url.host.as_str(), self.url.port).to_socket_addrs()?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host resolves to nothing");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.cfg.timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.cfg.timeout))?;
                    s.set_write_timeout(Some(self.cfg.timeout))?;
                    s.set_nodelay(true)?;
                    let stream = match &self.tls {
                        None => Stream::Plain(s),
                        Some(config) => {
                            let name =
                                ServerName::try_from(self.url.host.clone()).map_err(|e| {
                                    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
                                })?;
                            let conn = ClientConnection::new(Arc::clone(config), name)
                                .map_err(io::Error::other)?;
                            Stream::Tls(Box::new(StreamOwned::new(conn, s)))
                        }
                    };
                    return Ok(BufReader::new(stream));
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Send one request and read its response on `conn`.
    fn exchange(conn: &mut BufReader<Stream>, head: &[u8], body: &[u8]) -> io::Result<Response> {
        let mut req = Vec::with_capacity(head.len() + 32 + body.len());
        req.extend_from_slice(head);
        req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(body);
        let stream = conn.get_mut();
        stream.write_all(&req)?;
        stream.flush()?;
        read_response(conn)
    }

    fn describe(&self, e: &io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("POST {}: {e}", redacted_url(&self.cfg.url)),
        )
    }
}

fn check_header_value(name: &str, value: &str) -> io::Result<()> {
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name}: a header value must not contain line breaks"),
        ));
    }
    Ok(())
}

fn read_line(conn: &mut BufReader<Stream>, line: &mut String) -> io::Result<()> {
    line.clear();
    let n = conn.by_ref().take(16 << 10).read_line(line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the connection closed before a complete response",
        ));
    }
    Ok(())
}

/// Read a response and discard its body, leaving `conn` at the next response.
fn read_response(conn: &mut BufReader<Stream>) -> io::Result<Response> {
    let mut line = String::new();
    read_line(conn, &mut line)?;
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default().to_owned();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .filter(|_| version.starts_with("HTTP/"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response"))?;
    let mut keep_alive = version == "HTTP/1.1";
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut retry_after = None;
    loop {
        read_line(conn, &mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "retry-after" => retry_after = value.parse::<u64>().ok().map(Duration::from_secs),
            _ => {}
        }
    }
    let bodyless = status == 204 || status == 304 || (100..200).contains(&status);
    if bodyless {
    } else if chunked {
        loop {
            read_line(conn, &mut line)?;
            let size = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    read_line(conn, &mut line)?;
                    if line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            io::copy(&mut conn.by_ref().take(size), &mut io::sink())?;
            read_line(conn, &mut line)?;
        }
    } else if let Some(n) = length {
        let copied = io::copy(&mut conn.by_ref().take(n), &mut io::sink())?;
        if copied < n {
            keep_alive = false;
        }
    } else {
        // Delimited by the end of the connection.
        io::copy(&mut conn.by_ref().take(1 << 20), &mut io::sink())?;
        keep_alive = false;
    }
    Ok(Response {
        status,
        retry_after,
        keep_alive,
    })
}

impl Transport for HttpSender {
    fn deliver(&mut self, lines: &[u8]) -> Result<(), DeliveryError> {
        let body = self
            .body(lines)
            .map_err(|e| DeliveryError::retry(self.describe(&e)))?;
        // A kept-alive connection the server closed meanwhile fails at once: that one is
        // retried right away on a new connection, without counting as a failure.
        let mut fresh = self.conn.is_none();
        let response = loop {
            let mut conn = match self.conn.take() {
                Some(c) => c,
                None => self
                    .connect()
                    .map_err(|e| DeliveryError::retry(self.describe(&e)))?,
            };
            match Self::exchange(&mut conn, &self.head, &body) {
                Ok(r) => {
                    if r.keep_alive {
                        self.conn = Some(conn);
                    }
                    break r;
                }
                Err(e) if !fresh && is_stale(&e) => fresh = true,
                Err(e) => return Err(DeliveryError::retry(self.describe(&e))),
            }
        };
        match response.status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(DeliveryError {
                error: io::Error::other(format!(
                    "POST {}: HTTP {}",
                    redacted_url(&self.cfg.url),
                    response.status
                )),
                retryable: true,
                retry_after: response.retry_after,
                sent: 0,
            }),
            status => Err(DeliveryError {
                error: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "POST {}: HTTP {status} (the request was refused; check the url, \
                         token, headers and format)",
                        redacted_url(&self.cfg.url)
                    ),
                ),
                retryable: false,
                retry_after: None,
                sent: 0,
            }),
        }
    }
}

/// The errors of a connection the server closed while it was idle.
fn is_stale(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_never_show_secrets() {
        let u = parse_url("http://collector:4318").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.target.as_str()),
            ("collector", 4318, "/")
        );
        let u = parse_url("https://[::1]/api/v2/logs?dd-api-key=s3cret").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.tls), ("::1", 443, true));
        assert_eq!(u.target, "/api/v2/logs?dd-api-key=s3cret");
        assert_eq!(
            redacted_url("https://h/api?dd-api-key=s3cret"),
            "https://h/api"
        );
        let err = parse_url("http://user:s3cret@h/").unwrap_err().to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(parse_url("ftp://h/").is_err());
    }

    #[test]
    fn debug_hides_the_token_and_header_values() {
        let cfg = HttpConfig {
            url: "http://h:1/x?key=s3cret".into(),
            format: HttpFormat::Ndjson,
            headers: vec![("X-Api-Key".into(), "s3cret".into())],
            token: Some("s3cret".into()),
            gzip: false,
            timeout: Duration::from_secs(1),
            resource: vec![],
            verify_tls: true,
            ca_file: None,
        };
        let sender = HttpSender::new(cfg).unwrap();
        let shown = format!("{sender:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("X-Api-Key"));
    }

    #[test]
    fn header_values_with_line_breaks_are_refused() {
        let cfg = HttpConfig {
            url: "http://h/".into(),
            format: HttpFormat::Ndjson,
            headers: vec![("X".into(), "a\r\nInjected: 1".into())],
            token: None,
            gzip: false,
            timeout: Duration::from_secs(1),
            resource: vec![],
            verify_tls: true,
            ca_file: None,
        };
        assert!(HttpSender::new(cfg).is_err());
    }
}

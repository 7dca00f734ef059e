//! Syslog: each event line becomes one syslog message, RFC 5424 (or RFC 3164) framed, over UDP
//! (one datagram per message), TCP (octet-counted framing, RFC 6587) or a unix datagram socket
//! (`/dev/log`).
//!
//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - [ferrolog@32473 level="info"
//! logger="app"] {the JSON line}`. The priority's severity comes from the event's level, the
//! timestamp is the event's own; 32473 is the private enterprise number RFC 5612 reserves for
//! documentation, so the SD-ID names no one's registered number. RFC 3164: `<PRI>Mmm dd
//! hh:mm:ss HOSTNAME APP-NAME[PROCID]: {the JSON line}` (UTC).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::Duration;

use super::json::{self, Envelope};
use super::shipper::{DeliveryError, Transport};
use super::time::{bsd_timestamp, now_nanos, rfc3339_micros};
use crate::fallback::report;

/// How messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogTransport {
    /// One datagram per message; no delivery guarantee at all.
    Udp,
    /// Octet-counted frames (`LEN SP MSG`, RFC 6587) on a connection.
    Tcp,
    /// One datagram per message to a unix socket such as `/dev/log`.
    Unix,
}

/// The message format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

/// Where and how a syslog sink sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `host:port` for UDP and TCP, a socket path for unix.
    pub address: String,
    pub transport: SyslogTransport,
    pub format: SyslogFormat,
    /// 0 (kern) ..= 23 (local7).
    pub facility: u8,
    pub app_name: String,
    pub hostname: String,
    /// Connect and write timeout.
    pub timeout: Duration,
}

/// The largest UDP payload; longer messages are cut to it (UDP cannot carry more).
const MAX_DATAGRAM: usize = 65_507;

/// The facility number of a name (`user`, `local0`, ...).
pub fn facility_number(name: &str) -> Option<u8> {
    const NAMES: [&str; 24] = [
        "kern",
        "user",
        "mail",
        "daemon",
        "auth",
        "syslog",
        "lpr",
        "news",
        "uucp",
        "cron",
        "authpriv",
        "ftp",
        "ntp",
        "security",
        "console",
        "solaris-cron",
        "local0",
        "local1",
        "local2",
        "local3",
        "local4",
        "local5",
        "local6",
        "local7",
    ];
    NAMES.iter().position(|n| *n == name).map(|i| i as u8)
}

/// The syslog severity of a level name (unknown names are `info`).
pub fn severity(level: Option<&str>) -> u8 {
    match level.map(str::to_ascii_lowercase).as_deref() {
        Some("emergency" | "emerg") => 0,
        Some("alert") => 1,
        Some("critical" | "crit" | "fatal") => 2,
        Some("error" | "err") => 3,
        Some("warning" | "warn") => 4,
        Some("notice") => 5,
        Some("debug" | "trace") => 7,
        _ => 6,
    }
}

/// This machine's host name, for the header when none is configured.
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "-".to_owned())
}

/// Printable US-ASCII without spaces, at most `max` bytes, or `-` (RFC 5424's header fields).
fn header_field(s: &str, max: usize) -> String {
    let clean: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() {
        "-".to_owned()
    } else {
        clean
    }
}

/// An SD-PARAM value: `"`, `\` and `]` are escaped (RFC 5424 §6.3.3).
fn sd_value(out: &mut Vec<u8>, s: &str) {
    for c in s.bytes() {
        if matches!(c, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(c);
    }
}

/// Formats messages from event lines.
#[derive(Debug, Clone)]
pub struct Framer {
    format: SyslogFormat,
    facility: u8,
    hostname: String,
    app_name: String,
    procid: String,
}

impl Framer {
    pub fn new(cfg: &SyslogConfig) -> Framer {
        Framer {
            format: cfg.format,
            facility: cfg.facility.min(23),
            hostname: header_field(&cfg.hostname, 255),
            app_name: header_field(&cfg.app_name, 48),
            procid: std::process::id().to_string(),
        }
    }

    /// Append the syslog message for one event `line` (without its `\n`) to `out`.
    pub fn message(&self, out: &mut Vec<u8>, line: &[u8]) {
        let event = json::parse(line);
        let env = event.as_ref().map(Envelope::of).unwrap_or_default();
        let pri = u32::from(self.facility) * 8 + u32::from(severity(env.level));
        let time = env.time.unwrap_or_else(now_nanos);
        match self.format {
            SyslogFormat::Rfc5424 => {
                let ts = rfc3339_micros(time);
                out.extend_from_slice(
                    format!(
                        "<{pri}>1 {ts} {} {} {} - ",
                        self.hostname, self.app_name, self.procid
                    )
                    .as_bytes(),
                );
                if env.level.is_some() || env.logger.is_some() {
                    out.extend_from_slice(b"[ferrolog@32473");
                    for (k, v) in [("level", env.level), ("logger", env.logger)] {
                        if let Some(v) = v {
                            out.extend_from_slice(format!(" {k}=\"").as_bytes());
                            sd_value(out, v);
                            out.push(b'"');
                        }
                    }
                    out.extend_from_slice(b"] ");
                } else {
                    out.extend_from_slice(b"- ");
                }
            }
            SyslogFormat::Rfc3164 => {
                out.extend_from_slice(
                    format!(
                        "<{pri}>{} {} {}[{}]: ",
                        bsd_timestamp(time),
                        self.hostname,
                        self.app_name,
                        self.procid
                    )
                    .as_bytes(),
                );
            }
        }
        out.extend_from_slice(line);
    }
}

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Unix(UnixDatagram),
}

/// Sends messages to one syslog receiver, reconnecting after a failure.
pub struct SyslogSender {
    cfg: SyslogConfig,
    framer: Framer,
    conn: Option<Conn>,
    /// Whether a connection was lost and not yet made again (for the reports).
    lost: bool,
    scratch: Vec<u8>,
}

impl SyslogSender {
    pub fn new(cfg: SyslogConfig) -> SyslogSender {
        SyslogSender {
            framer: Framer::new(&cfg),
            cfg,
            conn: None,
            lost: false,
            scratch: Vec::new(),
        }
    }

    fn resolve(&self) -> io::Result<SocketAddr> {
        self.cfg.address.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("syslog address {} resolves to nothing", self.cfg.address),
            )
        })
    }

    fn connect(&mut self) -> io::Result<()> {
        if self.conn.is_some() {
            return Ok(());
        }
        let conn = match self.cfg.transport {
            SyslogTransport::Udp => {
                let addr = self.resolve()?;
                let local: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let sock = UdpSocket::bind(local)?;
                sock.connect(addr)?;
                sock.set_write_timeout(Some(self.cfg.timeout))?;
                Conn::Udp(sock)
            }
            SyslogTransport::Tcp => {
                let addr = self.resolve()?;
                let s = TcpStream::connect_timeout(&addr, self.cfg.timeout)?;
                s.set_write_timeout(Some(self.cfg.timeout))?;
                s.set_nodelay(true)?;
                Conn::Tcp(s)
            }
            SyslogTransport::Unix => {
                let sock = UnixDatagram::unbound()?;
                sock.connect(PathBuf::from(&self.cfg.address))?;
                sock.set_write_timeout(Some(self.cfg.timeout))?;
                Conn::Unix(sock)
            }
        };
        self.conn = Some(conn);
        if std::mem::replace(&mut self.lost, false) {
            report(&format!("syslog sink {}: reconnected", self.cfg.address));
        }
        Ok(())
    }

    fn fail(&mut self, e: io::Error, sent: usize) -> DeliveryError {
        self.conn = None;
        if !std::mem::replace(&mut self.lost, true) {
            report(&format!(
                "syslog sink {}: connection lost or refused ({e}); reconnecting with backoff",
                self.cfg.address
            ));
        }
        DeliveryError {
            error: io::Error::new(e.kind(), format!("syslog {}: {e}", self.cfg.address)),
            retryable: true,
            retry_after: None,
            sent,
        }
    }
}

/// Whether the peer closed a TCP connection (a FIN waiting to be read): writing to it would
/// vanish into a dead socket, so reconnect first.
fn peer_closed(s: &TcpStream) -> bool {
    let mut b = [0u8; 1];
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != io::ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

impl Transport for SyslogSender {
    fn deliver(&mut self, lines: &[u8]) -> Result<(), DeliveryError> {
        if let Some(Conn::Tcp(s)) = &self.conn {
            if peer_closed(s) {
                self.conn = None;
            }
        }
        if let Err(e) = self.connect() {
            return Err(self.fail(e, 0));
        }
        let mut offset = 0;
        match self.conn.as_mut() {
            Some(Conn::Tcp(stream)) => {
                // Frames are written a group at a time; a line counts as sent once its whole
                // frame was handed to the kernel.
                let mut buf = std::mem::take(&mut self.scratch);
                let mut pending: Vec<usize> = Vec::new();
                let mut result = Ok(());
                for line in lines.split_inclusive(|&b| b == b'\n') {
                    let body = line.strip_suffix(b"\n").unwrap_or(line);
                    let mut msg = Vec::with_capacity(body.len() + 96);
                    self.framer.message(&mut msg, body);
                    buf.extend_from_slice(format!("{} ", msg.len()).as_bytes());
                    buf.extend_from_slice(&msg);
                    pending.push(line.len());
                    if buf.len() >= 64 << 10 {
                        result = stream.write_all(&buf);
                        buf.clear();
                        if result.is_err() {
                            break;
                        }
                        offset += pending.drain(..).sum::<usize>();
                    }
                }
                if result.is_ok() && !buf.is_empty() {
                    result = stream.write_all(&buf);
                    if result.is_ok() {
                        offset += pending.drain(..).sum::<usize>();
                    }
                }
                buf.clear();
                self.scratch = buf;
                result.map_err(|e| self.fail(e, offset))
            }
            Some(conn) => {
                for line in lines.split_inclusive(|&b| b == b'\n') {
                    let body = line.strip_suffix(b"\n").unwrap_or(line);
                    self.scratch.clear();
                    self.framer.message(&mut self.scratch, body);
                    self.scratch.truncate(MAX_DATAGRAM);
                    let sent = match conn {
                        Conn::Udp(s) => s.send(&self.scratch),
                        Conn::Unix(s) => s.send(&self.scratch),
                        Conn::Tcp(_) => unreachable!("handled above"),
                    };
                    if let Err(e) = sent {
                        return Err(self.fail(e, offset));
                    }
                    offset += line.len();
                }
                Ok(())
            }
            None => Err(self.fail(io::Error::other("not connected"), 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(format: SyslogFormat) -> SyslogConfig {
        SyslogConfig {
            address: "127.0.0.1:514".into(),
            transport: SyslogTransport::Udp,
            format,
            facility: 16,
            app_name: "my app".into(),
            hostname: "web-1".into(),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn frames_rfc5424_with_structured_data_and_the_line_as_msg() {
        let f = Framer::new(&cfg(SyslogFormat::Rfc5424));
        let line = br#"{"timestamp":"2026-11-26T03:40:21.123456Z","level":"error","logger":"a]b","message":"x"}"#;
        let mut out = Vec::new();
        f.message(&mut out, line);
        let want = format!(
            "<131>1 2026-11-26T03:40:21.123456Z web-1 myapp {} - [ferrolog@32473 level=\"error\" logger=\"a\\]b\"] {}",
            std::process::id(),
            std::str::from_utf8(line).unwrap()
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn frames_rfc3164() {
        let f = Framer::new(&cfg(SyslogFormat::Rfc3164));
        let line = br#"{"timestamp":"2026-11-06T03:04:05.000001Z","level":"warning","logger":"a","message":"x"}"#;
        let mut out = Vec::new();
        f.message(&mut out, line);
        let want = format!(
            "<132>Nov  6 03:04:05 web-1 myapp[{}]: {}",
            std::process::id(),
            std::str::from_utf8(line).unwrap()
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn names_and_severities() {
        assert_eq!(facility_number("local7"), Some(23));
        assert_eq!(facility_number("user"), Some(1));
        assert_eq!(facility_number("nope"), None);
        assert_eq!(severity(Some("CRITICAL")), 2);
        assert_eq!(severity(Some("custom")), 6);
    }
}

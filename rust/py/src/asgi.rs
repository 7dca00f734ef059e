//! The per-request work of `ferrolog.fastapi.RequestContextMiddleware` that runs for every
//! HTTP request: reading the request id and `traceparent` headers, making a request id when
//! the client sent none, and building the request's context fields. In Python it cost about
//! as much as the endpoint's five log calls (`benches/service/inproc.py`, `ferrolog-mw`).

use crate::context::BoundContextVars;
use crate::methods::{c_result, StaticMethodDef};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PyList, PyString, PyTuple};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

/// Random bytes fetched from the OS per system call: 256 request ids.
const ID_POOL_BYTES: usize = 4096;
/// Bytes of randomness in one request id (written as 32 hex digits).
const ID_BYTES: usize = 16;
/// The longest client-supplied request id kept.
const MAX_ID_LEN: usize = 128;
/// `traceparent` is looked at in its first 55 characters (its whole length, version 00).
const TRACEPARENT_LEN: usize = 55;

/// Bumped in every forked child (a `pthread_atfork` handler, so also for forks Python does
/// not see): a pool filled before the fork is never drawn from after it.
static FORKS: AtomicU64 = AtomicU64::new(0);
static AT_FORK: Once = Once::new();

extern "C" {
    // POSIX (libSystem on macOS); the libc crate declares it only for Linux and Android.
    fn pthread_atfork(
        prepare: Option<unsafe extern "C" fn()>,
        parent: Option<unsafe extern "C" fn()>,
        child: Option<unsafe extern "C" fn()>,
    ) -> libc::c_int;
}

extern "C" fn forked_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
}

struct IdPool {
    bytes: [u8; ID_POOL_BYTES],
    /// The next unused byte; `ID_POOL_BYTES` when empty.
    next: usize,
    /// `FORKS` when the pool was filled.
    forks: u64,
}

thread_local! {
    static POOL: RefCell<Option<Box<IdPool>>> = const { RefCell::new(None) };
}

/// Fill `buf` from the OS's CSPRNG: `getrandom(2)` on Linux and Android (blocking only until
/// the kernel's pool is first seeded at boot), `getentropy(3)` elsewhere (macOS, the BSDs);
/// `/dev/urandom` where that call does not exist or a seccomp filter refuses it (as
/// `os.urandom` does).
fn os_random(buf: &mut [u8]) -> std::io::Result<()> {
    with_fallback(buf, system_random)
}

/// `primary`, else `/dev/urandom` when `primary` is missing (ENOSYS) or refused (EPERM).
fn with_fallback(
    buf: &mut [u8],
    primary: impl FnOnce(&mut [u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    match primary(buf) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) => dev_urandom(buf),
        done => done,
    }
}

fn dev_urandom(buf: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    // Opened close-on-exec (as std opens every file), read, closed.
    std::fs::File::open("/dev/urandom")?.read_exact(buf)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn system_random(buf: &mut [u8]) -> std::io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        done += n as usize;
    }
    Ok(())
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn system_random(buf: &mut [u8]) -> std::io::Result<()> {
    // getentropy(3) gives at most 256 bytes per call.
    for chunk in buf.chunks_mut(256) {
        // SAFETY: `chunk` is a valid writable buffer of `chunk.len()` (<= 256) bytes.
        if unsafe { libc::getentropy(chunk.as_mut_ptr().cast(), chunk.len()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// 16 bytes from this thread's pool of OS randomness, refilled when spent or when the process
/// has forked since it was filled. Each byte is handed out once.
fn id_bytes() -> std::io::Result<[u8; ID_BYTES]> {
    AT_FORK.call_once(|| {
        // SAFETY: registering a handler that only does an atomic increment (async-signal-safe,
        // as a handler running in a forked child of a multithreaded process must be).
        unsafe { pthread_atfork(None, None, Some(forked_child)) };
    });
    POOL.with(|cell| {
        let mut slot = cell.borrow_mut();
        let pool = slot.get_or_insert_with(|| {
            Box::new(IdPool {
                bytes: [0; ID_POOL_BYTES],
                next: ID_POOL_BYTES,
                forks: 0,
            })
        });
        let forks = FORKS.load(Ordering::Relaxed);
        if pool.next + ID_BYTES > ID_POOL_BYTES || pool.forks != forks {
            pool.next = ID_POOL_BYTES;
            os_random(&mut pool.bytes)?;
            pool.next = 0;
            pool.forks = forks;
        }
        let mut out = [0u8; ID_BYTES];
        out.copy_from_slice(&pool.bytes[pool.next..pool.next + ID_BYTES]);
        // What was handed out is not kept around.
        pool.bytes[pool.next..pool.next + ID_BYTES].fill(0);
        pool.next += ID_BYTES;
        Ok(out)
    })
}

/// A new request id: 128 bits from the OS's CSPRNG as 32 lowercase hex digits.
fn new_id() -> std::io::Result<[u8; 2 * ID_BYTES]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let raw = id_bytes()?;
    let mut out = [0u8; 2 * ID_BYTES];
    for (i, b) in raw.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 15)];
    }
    Ok(out)
}

/// `request_id()`: a new request id, 32 lowercase hex digits of 128 bits from the OS's
/// generator (drawn 256 ids per system call; a forked child never reuses its parent's).
#[pyfunction]
pub fn request_id(py: Python<'_>) -> PyResult<Bound<'_, PyString>> {
    let id = new_id()?;
    // The digits are ASCII.
    Ok(PyString::new(
        py,
        std::str::from_utf8(&id).unwrap_or_default(),
    ))
}

/// Whether a client's request id is kept: 1 to 128 of `A-Z a-z 0-9 . _ ~ : / + = @ -`.
/// Anything else (spaces, control characters, very long) could forge log lines or headers.
fn valid_id(id: &[u8]) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id.iter().all(|&c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    b'.' | b'_' | b'~' | b':' | b'/' | b'+' | b'=' | b'@' | b'-'
                )
        })
}

/// Python's `str.isspace()` for a latin-1 character (what `str.strip()` removes).
fn latin1_space(c: u8) -> bool {
    matches!(c, b'\t'..=b'\r' | 0x1c..=0x20 | 0x85 | 0xa0)
}

/// The trace and span ids of a W3C `traceparent` value
/// (`version-traceid-parentid-flags`, lowercase hex), else None: malformed, version `ff`, or
/// an all-zero id. Surrounding whitespace is ignored.
pub fn trace_ids(value: &[u8]) -> Option<(&str, &str)> {
    let start = value.iter().position(|&c| !latin1_space(c))?;
    let end = value.iter().rposition(|&c| !latin1_space(c))? + 1;
    let v = &value[start..end];
    let v = &v[..v.len().min(TRACEPARENT_LEN)];
    if v.len() != TRACEPARENT_LEN || v[2] != b'-' || v[35] != b'-' || v[52] != b'-' {
        return None;
    }
    let hex = |s: &[u8]| s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    let (version, trace, span, flags) = (&v[..2], &v[3..35], &v[36..52], &v[53..]);
    if !(hex(version) && hex(trace) && hex(span) && hex(flags)) || version == b"ff" {
        return None;
    }
    if trace.iter().all(|&c| c == b'0') || span.iter().all(|&c| c == b'0') {
        return None;
    }
    // Hex digits are ASCII.
    Some((
        std::str::from_utf8(trace).ok()?,
        std::str::from_utf8(span).ok()?,
    ))
}

/// The two items of a tuple or list of length 2 (an ASGI header's usual forms).
fn two_items<'py>(item: &Bound<'py, PyAny>) -> Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    if let Ok(t) = item.cast::<PyTuple>() {
        return (t.len() == 2).then(|| Some((t.get_item(0).ok()?, t.get_item(1).ok()?)))?;
    }
    let l = item.cast::<PyList>().ok()?;
    (l.len() == 2).then(|| Some((l.get_item(0).ok()?, l.get_item(1).ok()?)))?
}

/// A request header's name and value when both are bytes (ASGI's form), given as a tuple,
/// a list or any other iterable of two items; None for anything else.
fn header_pair<'py>(
    item: &Bound<'py, PyAny>,
) -> Option<(Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
    let (name, value) = match two_items(item) {
        Some(pair) => pair,
        None => {
            let mut it = item.try_iter().ok()?;
            let name = it.next()?.ok()?;
            let value = it.next()?.ok()?;
            if it.next().is_some() {
                return None;
            }
            (name, value)
        }
    };
    Some((name.cast_into().ok()?, value.cast_into().ok()?))
}

/// `request_fields(scope, header)`: the context fields of one ASGI HTTP request, the request
/// id to echo on its response, and a `bound_contextvars` of the fields (of its own copy).
///
/// The id is the first value of the request header named `header` (lowercase bytes, as ASGI
/// gives names) that [`valid_id`] accepts, else a new one. The fields are `request_id`,
/// `method`, `path`, `client` (`host:port`, when the scope has a client) and, from a valid
/// first `traceparent` header, `trace_id` and `span_id`. Headers that are not pairs of bytes
/// are skipped, as is a client that is not a (host, port) pair.
#[pyfunction]
pub fn request_fields<'py>(
    py: Python<'py>,
    scope: &Bound<'py, PyDict>,
    header: &[u8],
) -> PyResult<(
    Bound<'py, PyDict>,
    Bound<'py, PyBytes>,
    Bound<'py, BoundContextVars>,
)> {
    let (fields, id) = fields_of(py, scope, header)?;
    let bound = binding(&fields)?;
    Ok((fields, id, bound))
}

/// What `begin_request` returns: the path, the sender, the send for the app, the binding.
type Begun<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, ResponseSend>,
    Bound<'py, PyAny>,
    Bound<'py, BoundContextVars>,
);

/// `begin_request(scope, header, send, state_key)`: all that `RequestContextMiddleware` does
/// for an HTTP request before it calls the app, in one call. It makes the request's fields
/// as `request_fields` does, stores them in the scope's ``state`` dict under `state_key`
/// (making that dict when the scope has none) and returns ``(path, sender, send, bound)``:
/// the request's path, the `ResponseSend` that keeps the status and body bytes, the `send`
/// to hand the app (a builtin function calling that sender: no argument tuple, no
/// `tp_call`, per message), and the binding of the fields.
#[pyfunction]
pub fn begin_request<'py>(
    py: Python<'py>,
    scope: &Bound<'py, PyDict>,
    header: &Bound<'py, PyBytes>,
    send: Py<PyAny>,
    state_key: &Bound<'py, PyString>,
) -> PyResult<Begun<'py>> {
    let (fields, id) = fields_of(py, scope, header.as_bytes())?;
    let state_name = pyo3::intern!(py, "state");
    // `scope.setdefault("state", {})[state_key] = fields`, as the Python did: a state that is
    // not a mapping raises as it would have there.
    let state = match scope.get_item(state_name)? {
        Some(state) => state,
        None => {
            let state = PyDict::new(py);
            scope.set_item(state_name, &state)?;
            state.into_any()
        }
    };
    state.set_item(state_key, &fields)?;
    let path = fields
        .get_item(pyo3::intern!(py, "path"))?
        .unwrap_or_else(|| PyString::new(py, "").into_any());
    let sender = Bound::new(
        py,
        ResponseSend::new(send, header.clone().unbind(), id.unbind()),
    )?;
    let send = send_function(&sender)?;
    let bound = binding(&fields)?;
    Ok((path, sender, send, bound))
}

/// A binding of a copy of `fields` (the dict itself goes to the scope's state, where the app
/// may change it).
fn binding<'py>(fields: &Bound<'py, PyDict>) -> PyResult<Bound<'py, BoundContextVars>> {
    Bound::new(fields.py(), BoundContextVars::owning(fields.copy()?))
}

/// The request's context fields (see `request_fields`) and the request id to echo.
fn fields_of<'py>(
    py: Python<'py>,
    scope: &Bound<'py, PyDict>,
    header: &[u8],
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyBytes>)> {
    let mut id: Option<Bound<'py, PyBytes>> = None;
    let mut traceparent: Option<Bound<'py, PyBytes>> = None;
    if let Some(headers) = scope.get_item(pyo3::intern!(py, "headers"))? {
        if headers.is_truthy()? {
            let mut look = |item: &Bound<'py, PyAny>| {
                let Some((name, value)) = header_pair(item) else {
                    return;
                };
                let name = name.as_bytes();
                if name == header {
                    if id.is_none() && valid_id(value.as_bytes()) {
                        id = Some(value);
                    }
                } else if name == b"traceparent" && traceparent.is_none() {
                    traceparent = Some(value);
                }
            };
            // A list (what servers pass) is read by index; any other iterable is iterated.
            if let Ok(list) = headers.cast::<PyList>() {
                let mut i = 0;
                while i < list.len() {
                    look(&list.get_item(i)?);
                    i += 1;
                }
            } else {
                for item in headers.try_iter()? {
                    look(&item?);
                }
            }
        }
    }
    let id = match id {
        Some(id) => id,
        None => PyBytes::new(py, &new_id()?),
    };
    let fields = PyDict::new(py);
    // A kept or made id is ASCII.
    let id_text = PyString::new(py, std::str::from_utf8(id.as_bytes()).unwrap_or_default());
    fields.set_item(pyo3::intern!(py, "request_id"), id_text)?;
    let empty = pyo3::intern!(py, "");
    for key in [pyo3::intern!(py, "method"), pyo3::intern!(py, "path")] {
        let value = scope.get_item(key)?;
        fields.set_item(key, value.as_ref().map_or(empty.as_any(), |v| v))?;
    }
    if let Some(client) = scope.get_item(pyo3::intern!(py, "client"))? {
        if client.is_truthy()? {
            if let Some(text) = client_text(&client) {
                fields.set_item(pyo3::intern!(py, "client"), text)?;
            }
        }
    }
    if let Some((trace, span)) = traceparent.as_ref().and_then(|t| trace_ids(t.as_bytes())) {
        fields.set_item(pyo3::intern!(py, "trace_id"), trace)?;
        fields.set_item(pyo3::intern!(py, "span_id"), span)?;
    }
    Ok((fields, id))
}

/// `host:port` of an ASGI client (a `(host, port)` pair), each part as `str()` writes it;
/// None when it is not a pair or a part cannot be written.
fn client_text<'py>(client: &Bound<'py, PyAny>) -> Option<Bound<'py, PyString>> {
    let py = client.py();
    let (host, port) = match client.cast::<PyTuple>() {
        Ok(t) if t.len() == 2 => (t.get_item(0).ok()?, t.get_item(1).ok()?),
        Ok(_) => return None,
        Err(_) => {
            if client.len().ok()? != 2 {
                return None;
            }
            (client.get_item(0).ok()?, client.get_item(1).ok()?)
        }
    };
    // The usual pair, a str host and an int port, without Python formatting.
    if let (Ok(h), true) = (
        host.cast::<PyString>(),
        port.is_exact_instance_of::<PyInt>(),
    ) {
        if let (Ok(h), Ok(p)) = (h.to_str(), port.extract::<i64>()) {
            let mut text = String::with_capacity(h.len() + 8);
            text.push_str(h);
            text.push(':');
            text.push_str(itoa::Buffer::new().format(p));
            return Some(PyString::new(py, &text));
        }
    }
    let host = host.str().ok()?;
    let port = port.str().ok()?;
    let text = format!("{}:{}", host.to_cow().ok()?, port.to_cow().ok()?);
    Some(PyString::new(py, &text))
}

/// What `send_function` makes: a METH_O builtin whose `self` is a `ResponseSend`.
static SEND_DEF: StaticMethodDef = StaticMethodDef(ffi::PyMethodDef {
    ml_name: c"send".as_ptr(),
    ml_meth: ffi::PyMethodDefPointer {
        PyCFunction: response_send_o,
    },
    ml_flags: ffi::METH_O,
    ml_doc: c"send(message)\n--\n\nThe ASGI send of a request behind RequestContextMiddleware."
        .as_ptr(),
});

/// A builtin function calling `sender` with its one argument. An app calls its `send` once
/// per message; called this way that is a direct C call, where calling the `ResponseSend`
/// itself goes through `tp_call` with an argument tuple.
fn send_function<'py>(sender: &Bound<'py, ResponseSend>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the GIL is held; the definition is 'static; the function holds its own
    // reference to `sender`; a new reference or NULL with an exception set comes back.
    unsafe {
        Bound::from_owned_ptr_or_err(
            sender.py(),
            ffi::PyCFunction_NewEx(SEND_DEF.as_ptr(), sender.as_ptr(), std::ptr::null_mut()),
        )
    }
}

/// # Safety
/// Called by CPython as a METH_O function with the GIL held: `slf` is the function's `self`
/// (the `ResponseSend` given to `send_function`) and `message` a borrowed reference.
unsafe extern "C" fn response_send_o(
    slf: *mut ffi::PyObject,
    message: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: per this function's contract.
    let py = unsafe { Python::assume_attached() };
    c_result(py, "ResponseSend: send failed", || {
        // SAFETY: both are live borrowed references (this function's contract).
        let (slf, message) = unsafe {
            (
                Bound::from_borrowed_ptr(py, slf),
                Bound::from_borrowed_ptr(py, message),
            )
        };
        ResponseSend::deliver(&slf.cast_into::<ResponseSend>()?, &message)
    })
}

/// The `send` an app gets from `RequestContextMiddleware`: echoes the request id on the
/// response's start (unless the app set that header itself, in any case) and keeps the status
/// and the number of body bytes sent, for the access event. It returns the wrapped `send`'s
/// awaitable: no coroutine of its own per message.
#[pyclass(module = "ferrolog._native", name = "ResponseSend")]
pub struct ResponseSend {
    /// None once the garbage collector has cleared it (part of a collected cycle).
    send: Option<Py<PyAny>>,
    header: Py<PyBytes>,
    request_id: Py<PyBytes>,
    /// The response's status (0 until the response starts).
    #[pyo3(get)]
    status: i64,
    /// Body bytes sent so far.
    #[pyo3(get)]
    sent: i64,
}

#[pymethods]
impl ResponseSend {
    #[new]
    fn new(send: Py<PyAny>, header: Py<PyBytes>, request_id: Py<PyBytes>) -> Self {
        Self {
            send: Some(send),
            header,
            request_id,
            status: 0,
            sent: 0,
        }
    }

    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Self::deliver(slf, message)
    }

    // The wrapped `send` may lead back here (a server's send holds the scope, where an app
    // may keep its request): the collector must see the edge, and be able to break it.
    fn __traverse__(&self, visit: pyo3::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
        if let Some(send) = &self.send {
            visit.call(send)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.send = None;
    }
}

impl ResponseSend {
    /// Note what `message` says (the status of a response's start, the size of a body), add
    /// the request id header to a start, and pass it on to the wrapped send.
    fn deliver<'py>(
        slf: &Bound<'py, Self>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        // No borrow of `self` is held while Python code runs (a message's `get`, the status's
        // `__int__`, the wrapped send): that code may read `status` and `sent`.
        let send = match &slf.borrow().send {
            Some(send) => send.clone_ref(py),
            None => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "ResponseSend: its send was cleared by the garbage collector",
                ))
            }
        };
        let kind = message.get_item(pyo3::intern!(py, "type"))?;
        if let Ok(kind) = kind.cast::<PyString>() {
            match kind.to_str() {
                Ok("http.response.start") => {
                    let status = Self::start(slf, message)?;
                    slf.borrow_mut().status = status;
                }
                Ok("http.response.body") => {
                    if let Some(body) = lookup(message, pyo3::intern!(py, "body"))? {
                        let n = body.len()? as i64;
                        let mut this = slf.borrow_mut();
                        this.sent = this.sent.saturating_add(n);
                    }
                }
                _ => {}
            }
        }
        // SAFETY: the GIL is held; both objects are alive; a new reference, or NULL with an
        // exception set, comes back.
        unsafe {
            Bound::from_owned_ptr_or_err(
                py,
                ffi::PyObject_CallOneArg(send.as_ptr(), message.as_ptr()),
            )
        }
    }

    /// `http.response.start`: add the request id header unless present; the status, as
    /// `int()` reads it (beyond 64 bits: the nearest 64-bit value).
    fn start(slf: &Bound<'_, Self>, message: &Bound<'_, PyAny>) -> PyResult<i64> {
        let py = message.py();
        let status = message.get_item(pyo3::intern!(py, "status"))?;
        // SAFETY: the GIL is held; `status` is live; a new reference or NULL with an error.
        let status =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Long(status.as_ptr()))? };
        let status = match status.extract::<i64>() {
            Ok(n) => n,
            Err(_) if status.lt(0)? => i64::MIN,
            Err(_) => i64::MAX,
        };
        // A new list of the headers (the app's own is left as it was).
        let headers = match lookup(message, pyo3::intern!(py, "headers"))? {
            Some(given) if given.is_truthy()? => {
                // SAFETY: the GIL is held; `given` is live; a new list or NULL with an error.
                unsafe { Bound::from_owned_ptr_or_err(py, ffi::PySequence_List(given.as_ptr()))? }
                    .cast_into::<PyList>()?
            }
            _ => PyList::empty(py),
        };
        let (header, request_id) = {
            let this = slf.borrow();
            (this.header.clone_ref(py), this.request_id.clone_ref(py))
        };
        let name = header.bind(py).as_bytes();
        let present = headers.iter().any(|item| {
            header_name(&item).is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(name))
        });
        if !present {
            headers.append((header, request_id))?;
        }
        message.set_item(pyo3::intern!(py, "headers"), headers)?;
        Ok(status)
    }
}

/// `message.get(key)` of an ASGI message (a dict, or any mapping with `get`); None also for
/// a key whose value is None.
fn lookup<'py>(
    message: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let value = match message.cast::<PyDict>() {
        Ok(dict) => dict.get_item(key)?,
        Err(_) => Some(message.call_method1(pyo3::intern!(message.py(), "get"), (key,))?),
    };
    Ok(value.filter(|v| !v.is_none()))
}

/// The name of a response header given as a (name, value) tuple or list with a bytes name.
fn header_name<'py>(item: &Bound<'py, PyAny>) -> Option<Bound<'py, PyBytes>> {
    two_items(item)?.0.cast_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_forms() {
        let ok = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_ids(ok),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        );
        let mut padded = b" \t".to_vec();
        padded.extend_from_slice(ok);
        padded.extend_from_slice(b"\xa0 ");
        assert!(trace_ids(&padded).is_some());
        // Longer than 55 characters: the first 55 are read (a future version may add fields).
        let mut longer = ok.to_vec();
        longer.extend_from_slice(b"-extra");
        assert!(trace_ids(&longer).is_some());
        for bad in [
            &b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..],
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            b"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            b"",
            b"   ",
        ] {
            assert_eq!(trace_ids(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ids_are_hex_and_do_not_repeat() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..1000 {
            let id = new_id().unwrap();
            assert!(id.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
            assert!(seen.insert(id));
        }
    }

    #[test]
    fn a_missing_or_refused_call_falls_back_to_the_device() {
        for errno in [libc::ENOSYS, libc::EPERM] {
            let mut buf = [0u8; 64];
            with_fallback(&mut buf, |_| Err(std::io::Error::from_raw_os_error(errno))).unwrap();
            assert_ne!(buf, [0u8; 64]);
        }
        // Any other error is the caller's to see.
        let mut buf = [0u8; 8];
        let err = with_fallback(&mut buf, |_| {
            Err(std::io::Error::from_raw_os_error(libc::EIO))
        })
        .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EIO));
        assert_eq!(buf, [0u8; 8]);
    }

    #[test]
    fn the_fallback_reads_the_device() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        dev_urandom(&mut a).unwrap();
        dev_urandom(&mut b).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 64]);
    }

    #[test]
    fn a_fork_empties_the_pool() {
        let first = id_bytes().unwrap();
        forked_child();
        POOL.with(|cell| {
            let pool = cell.borrow();
            let pool = pool.as_ref().unwrap();
            assert_ne!(pool.forks, FORKS.load(Ordering::Relaxed));
        });
        let second = id_bytes().unwrap();
        assert_ne!(first, second);
        POOL.with(|cell| {
            let pool = cell.borrow();
            let pool = pool.as_ref().unwrap();
            assert_eq!(pool.forks, FORKS.load(Ordering::Relaxed));
            assert_eq!(pool.next, ID_BYTES);
        });
    }

    #[test]
    fn id_charset() {
        assert!(valid_id(b"req-123"));
        assert!(valid_id(b"a.b_c~d:e/f+g=h@i-J9"));
        assert!(valid_id(&[b'x'; 128]));
        assert!(!valid_id(&[b'x'; 129]));
        assert!(!valid_id(b""));
        assert!(!valid_id(b"has space"));
        assert!(!valid_id(b"new\nline"));
        assert!(!valid_id(b"caf\xe9"));
    }
}

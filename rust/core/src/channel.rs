//! A sink that hands each batch to another thread (a Python sink runner) and waits for its
//! answer, so the writer thread itself never touches Python.

use crate::sink::Sink;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The rendezvous between a [`ChannelSink`] (writer side) and its consumer.
#[derive(Debug, Default)]
pub struct Channel {
    state: Mutex<State>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The batch offered to the consumer and not yet taken.
    offered: Option<(u64, Arc<[u8]>)>,
    /// The consumer's answer for a batch id.
    answer: Option<(u64, bool)>,
    next_id: u64,
    closed: bool,
}

/// What [`Channel::take`] found.
#[derive(Debug)]
pub enum Take {
    /// A batch to process, then answer with [`Channel::answer`] and its id.
    Batch(u64, Arc<[u8]>),
    /// Nothing arrived within the timeout.
    Empty,
    /// The sink was closed; the consumer should stop.
    Closed,
}

impl Channel {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait up to `timeout` for a batch.
    pub fn take(&self, timeout: Duration) -> Take {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        loop {
            if let Some((id, batch)) = st.offered.take() {
                return Take::Batch(id, batch);
            }
            if st.closed {
                return Take::Closed;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Take::Empty;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Report whether batch `id` was written.
    pub fn answer(&self, id: u64, ok: bool) {
        let mut st = self.lock();
        st.answer = Some((id, ok));
        self.changed.notify_all();
    }

    /// Stop the exchange: pending and later offers fail, the consumer sees [`Take::Closed`].
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.offered = None;
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

/// A [`Sink`] whose batches are written by whoever drains its [`Channel`].
#[derive(Debug)]
pub struct ChannelSink {
    channel: Arc<Channel>,
    name: String,
    timeout: Duration,
}

impl ChannelSink {
    /// A sink and its channel; a batch not answered within `timeout` counts as failed.
    pub fn new(name: impl Into<String>, timeout: Duration) -> (ChannelSink, Arc<Channel>) {
        let channel = Arc::new(Channel::default());
        (
            ChannelSink {
                channel: Arc::clone(&channel),
                name: name.into(),
                timeout,
            },
            channel,
        )
    }
}

impl Sink for ChannelSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn write_batch(&mut self, batch: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + self.timeout;
        let ch = &*self.channel;
        let mut st = ch.lock();
        if st.closed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("{} is closed", self.name),
            ));
        }
        let id = st.next_id;
        st.next_id += 1;
        st.answer = None;
        st.offered = Some((id, Arc::from(batch)));
        ch.changed.notify_all();
        loop {
            if let Some((answered, ok)) = st.answer {
                if answered == id {
                    return if ok {
                        Ok(())
                    } else {
                        Err(io::Error::other(format!(
                            "{} failed to write a batch",
                            self.name
                        )))
                    };
                }
            }
            if st.closed {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    format!("{} closed mid-batch", self.name),
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // Withdraw the offer if nobody took it; a late answer is ignored.
                if matches!(st.offered, Some((o, _)) if o == id) {
                    st.offered = None;
                }
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("{} did not answer within {:?}", self.name, self.timeout),
                ));
            }
            st = ch
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn close(&mut self) -> io::Result<()> {
        self.channel.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn a_batch_is_written_when_the_consumer_says_so() {
        let (mut sink, ch) = ChannelSink::new("py", Duration::from_secs(5));
        let consumer = thread::spawn(move || {
            let mut got = Vec::new();
            for ok in [true, false] {
                match ch.take(Duration::from_secs(5)) {
                    Take::Batch(id, b) => {
                        got.push(b.to_vec());
                        ch.answer(id, ok);
                    }
                    other => panic!("{other:?}"),
                }
            }
            assert!(matches!(ch.take(Duration::from_secs(5)), Take::Closed));
            got
        });
        assert!(sink.write_batch(b"a\n").is_ok());
        assert!(sink.write_batch(b"b\n").is_err());
        sink.close().unwrap();
        assert_eq!(
            consumer.join().unwrap(),
            vec![b"a\n".to_vec(), b"b\n".to_vec()]
        );
    }

    #[test]
    fn an_unanswered_batch_times_out() {
        let (mut sink, ch) = ChannelSink::new("py", Duration::from_millis(20));
        let err = sink.write_batch(b"x\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(matches!(ch.take(Duration::ZERO), Take::Empty));
    }
}

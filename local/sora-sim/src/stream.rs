//! Streaming a content body chunk by chunk, with the download faults (throttling, a
//! connection reset part-way): shared by both simulators.

use crate::content;
use bytes::Bytes;
use std::time::Duration;

pub(crate) enum Source {
    Static(&'static [u8]),
    /// Bytes made for this video (the sample MP4 retimed to its length).
    Owned(Bytes),
    /// Generated content with this seed (see [`content::generated_chunk`]).
    Generated(u64),
}

/// How one content body is streamed.
pub(crate) struct Stream {
    pub source: Source,
    pub len: u64,
    pub chunk: usize,
    /// Bytes per second, when throttled.
    pub rate: Option<u64>,
    /// Drop the connection after this many bytes.
    pub cut_after: Option<u64>,
}

impl Stream {
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
        futures::stream::unfold((self, 0u64), |(plan, offset)| async move {
            if offset >= plan.len {
                return None;
            }
            if plan.cut_after.is_some_and(|cut| offset >= cut) {
                // An error ends the body early; hyper then drops the connection, so the
                // client sees a reset, not a short success.
                let err =
                    std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated reset");
                return Some((Err(err), (plan, u64::MAX)));
            }
            let mut n = (plan.len - offset).min(plan.chunk.max(1) as u64);
            if let Some(cut) = plan.cut_after {
                n = n.min(cut - offset).max(1);
            }
            if let Some(rate) = plan.rate {
                tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate.max(1) as f64)).await;
            }
            let bytes = match &plan.source {
                Source::Static(all) => {
                    Bytes::from_static(&all[offset as usize..(offset + n) as usize])
                }
                Source::Owned(all) => all.slice(offset as usize..(offset + n) as usize),
                Source::Generated(seed) => content::generated_chunk(*seed, offset, n as usize),
            };
            Some((Ok(bytes), (plan, offset + n)))
        })
    }
}

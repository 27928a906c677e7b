//! The half-close state machine of one stream, with no I/O: frames in, decisions out.
//!
//! ```text
//! read half:  Open --FIN--> Finished          write half:  Open --poll_close--> FinSent --FIN_ACK--> Acked
//!             Open --RESET_STREAM--> Reset                 Open --STOP_SENDING--> Stopped
//!             Open --we send STOP_SENDING--> Stopped       (any) --we send RESET_STREAM--> Reset
//! ```
//! A received FIN is answered with one FIN_ACK (`fin_ack_due`), whatever the read half does.

use crate::frame::{Flag, Frame};

/// The receiving half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadHalf {
    /// Data is delivered to the reader.
    Open,
    /// We sent STOP_SENDING: data is discarded, flags still count.
    Stopped,
    /// The remote sent FIN: the reader sees end of stream once the buffer is drained.
    Finished,
    /// The remote sent RESET_STREAM (or the channel closed without FIN).
    Reset,
}

/// The sending half.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteHalf {
    /// Data may be sent.
    Open,
    /// The remote sent STOP_SENDING: writes fail.
    Stopped,
    /// We sent FIN and wait for its FIN_ACK.
    FinSent,
    /// The remote acknowledged our FIN: all our data arrived.
    Acked,
    /// We sent RESET_STREAM, or the channel closed under us.
    Reset,
}

/// Both halves and the acknowledgement we owe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) read: ReadHalf,
    pub(crate) write: WriteHalf,
    /// A FIN arrived that we have not acknowledged yet.
    pub(crate) fin_ack_due: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            read: ReadHalf::Open,
            write: WriteHalf::Open,
            fin_ack_due: false,
        }
    }
}

impl State {
    /// Applies one received frame; returns the payload the reader should get, if any.
    /// Data is applied before the flag (a frame may carry both, e.g. the last bytes and FIN).
    pub(crate) fn on_frame(&mut self, frame: Frame) -> Option<Vec<u8>> {
        let deliver =
            (self.read == ReadHalf::Open && !frame.payload.is_empty()).then_some(frame.payload);
        match frame.flag {
            Some(Flag::Fin) if matches!(self.read, ReadHalf::Open | ReadHalf::Stopped) => {
                self.read = ReadHalf::Finished;
                self.fin_ack_due = true;
            }
            Some(Flag::StopSending) if self.write == WriteHalf::Open => {
                self.write = WriteHalf::Stopped;
            }
            Some(Flag::ResetStream) if self.read != ReadHalf::Finished => {
                self.read = ReadHalf::Reset;
            }
            Some(Flag::FinAck) if self.write == WriteHalf::FinSent => {
                self.write = WriteHalf::Acked;
            }
            // No flag, or one that changes nothing in this state (e.g. a repeated FIN).
            _ => {}
        }
        deliver
    }

    /// The channel closed under us: nothing more arrives, nothing more can be sent.
    pub(crate) fn on_channel_closed(&mut self) {
        if matches!(self.read, ReadHalf::Open | ReadHalf::Stopped) {
            self.read = ReadHalf::Reset;
        }
        if matches!(self.write, WriteHalf::Open | WriteHalf::FinSent) {
            self.write = WriteHalf::Reset;
        }
        self.fin_ack_due = false;
    }

    /// True while received frames may still change something we wait for.
    pub(crate) fn wants_frames(&self) -> bool {
        matches!(self.read, ReadHalf::Open | ReadHalf::Stopped) || self.write == WriteHalf::FinSent
    }

    /// Both halves are over: the data channel can be closed without losing anything.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        !matches!(self.read, ReadHalf::Open | ReadHalf::Stopped)
            && matches!(
                self.write,
                WriteHalf::Acked | WriteHalf::Reset | WriteHalf::Stopped
            )
            && !self.fin_ack_due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(flag: Flag) -> Frame {
        Frame {
            flag: Some(flag),
            payload: Vec::new(),
        }
    }

    #[test]
    fn fin_finishes_reading_after_its_data_and_owes_one_fin_ack() {
        let mut state = State::default();
        let data = state.on_frame(Frame {
            flag: Some(Flag::Fin),
            payload: b"last".to_vec(),
        });
        assert_eq!(data.as_deref(), Some(&b"last"[..]));
        assert_eq!(state.read, ReadHalf::Finished);
        assert!(state.fin_ack_due);
        // A repeated FIN is not acknowledged twice.
        state.fin_ack_due = false;
        state.on_frame(flag(Flag::Fin));
        assert!(!state.fin_ack_due);
        // Data after FIN is dropped.
        assert_eq!(
            state.on_frame(Frame {
                flag: None,
                payload: b"late".to_vec()
            }),
            None
        );
    }

    #[test]
    fn the_spec_close_sequence_ends_done_on_both_sides() {
        let (mut a, mut b) = (State::default(), State::default());
        a.write = WriteHalf::FinSent; // A: DATA, FIN
        b.on_frame(flag(Flag::Fin));
        assert!(b.fin_ack_due);
        b.fin_ack_due = false; // B: FIN_ACK
        a.on_frame(flag(Flag::FinAck));
        assert_eq!(a.write, WriteHalf::Acked);
        b.write = WriteHalf::FinSent; // B: DATA, FIN
        a.on_frame(flag(Flag::Fin));
        a.fin_ack_due = false; // A: FIN_ACK
        b.on_frame(flag(Flag::FinAck));
        assert!(a.is_done());
        assert!(b.is_done());
    }

    #[test]
    fn stop_sending_stops_writes_and_reset_stops_reads() {
        let mut state = State::default();
        state.on_frame(flag(Flag::StopSending));
        assert_eq!(state.write, WriteHalf::Stopped);
        state.on_frame(flag(Flag::ResetStream));
        assert_eq!(state.read, ReadHalf::Reset);
        assert!(state.is_done());
    }

    #[test]
    fn after_we_stop_reading_flags_still_count_and_data_is_dropped() {
        let mut state = State {
            read: ReadHalf::Stopped,
            write: WriteHalf::FinSent,
            fin_ack_due: false,
        };
        assert_eq!(
            state.on_frame(Frame {
                flag: Some(Flag::FinAck),
                payload: b"x".to_vec()
            }),
            None
        );
        assert_eq!(state.write, WriteHalf::Acked);
        assert!(state.wants_frames());
        state.on_frame(flag(Flag::Fin));
        assert!(state.fin_ack_due);
    }

    #[test]
    fn a_closed_channel_ends_both_halves() {
        let mut state = State {
            read: ReadHalf::Open,
            write: WriteHalf::FinSent,
            fin_ack_due: true,
        };
        state.on_channel_closed();
        assert!(state.is_done());
        assert!(!state.wants_frames());
    }
}

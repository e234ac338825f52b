//! The replication wire messages of p2panda 0.8 nodes (SPEC 10.2): CBOR
//! arrays written back to back on a stream, without length prefixes.
//! Pure encoding and decoding; the networking lives in the node.

use crate::cbor::{CborError, Header, Reader, Writer};
use crate::ids::SchemaId;

/// The protocol version in `Announce`.
pub const PROTOCOL_VERSION: u64 = 1;
/// Log-height replication, the only mode upstream implements.
pub const MODE_LOG_HEIGHT: u64 = 0;

/// Per author, the latest seq num of each log.
pub type LogHeights = Vec<([u8; 32], Vec<(u64, u64)>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// `[0, version, timestamp, schema ids]`: what a node replicates.
    Announce {
        version: u64,
        timestamp: u64,
        schemas: Vec<SchemaId>,
    },
    /// `[1, session, mode, target set]`.
    SyncRequest {
        session: u64,
        mode: u64,
        target: Vec<SchemaId>,
    },
    /// `[2, session, entry, operation]`.
    Entry {
        session: u64,
        entry: Vec<u8>,
        operation: Option<Vec<u8>>,
    },
    /// `[3, session, live mode]`.
    SyncDone { session: u64, live: bool },
    /// `[10, session, log heights]`.
    Have { session: u64, logs: LogHeights },
}

/// Why bytes are not a replication message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// More bytes are needed (a stream reader waits for them).
    #[error("incomplete message")]
    Incomplete,
    #[error("malformed CBOR: {0}")]
    Cbor(CborError),
    #[error("unknown message type {0}")]
    UnknownType(u64),
    #[error("message {kind}: {problem}")]
    Shape {
        kind: &'static str,
        problem: &'static str,
    },
    #[error("message {kind}: invalid schema id `{id}`")]
    SchemaId { kind: &'static str, id: String },
    #[error("message {kind}: schema ids must be unique and in upstream order")]
    UnsortedSchemas { kind: &'static str },
}

impl From<CborError> for MessageError {
    fn from(e: CborError) -> Self {
        match e {
            CborError::UnexpectedEnd(_) => MessageError::Incomplete,
            other => MessageError::Cbor(other),
        }
    }
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Message::Announce {
                version,
                timestamp,
                schemas,
            } => {
                w.array(4);
                w.unsigned(0);
                w.unsigned(*version);
                w.unsigned(*timestamp);
                schema_set(&mut w, schemas);
            }
            Message::SyncRequest {
                session,
                mode,
                target,
            } => {
                w.array(4);
                w.unsigned(1);
                w.unsigned(*session);
                w.unsigned(*mode);
                schema_set(&mut w, target);
            }
            Message::Entry {
                session,
                entry,
                operation,
            } => {
                w.array(4);
                w.unsigned(2);
                w.unsigned(*session);
                w.bytes(entry);
                match operation {
                    Some(op) => w.bytes(op),
                    None => w.null(),
                }
            }
            Message::SyncDone { session, live } => {
                w.array(3);
                w.unsigned(3);
                w.unsigned(*session);
                w.bool(*live);
            }
            Message::Have { session, logs } => {
                w.array(3);
                w.unsigned(10);
                w.unsigned(*session);
                w.array(logs.len());
                for (key, heights) in logs {
                    w.array(2);
                    w.bytes(key);
                    w.array(heights.len());
                    for (log, seq) in heights {
                        w.array(2);
                        w.unsigned(*log);
                        w.unsigned(*seq);
                    }
                }
            }
        }
        w.into_bytes()
    }

    /// Decodes the first message of `input`; returns it and the bytes it
    /// took. [`MessageError::Incomplete`] means: read more, then retry.
    pub fn decode(input: &[u8]) -> Result<(Message, usize), MessageError> {
        let mut r = Reader::new(input);
        let len = array(&mut r, "message")?;
        let kind = unsigned(&mut r, "message")?;
        let shape = |kind, problem| MessageError::Shape { kind, problem };
        let message = match kind {
            0 => {
                expect_len(len, 4, "Announce")?;
                let version = unsigned(&mut r, "Announce")?;
                let timestamp = unsigned(&mut r, "Announce")?;
                let schemas = read_schema_set(&mut r, "Announce")?;
                Message::Announce {
                    version,
                    timestamp,
                    schemas,
                }
            }
            1 => {
                expect_len(len, 4, "SyncRequest")?;
                let session = unsigned(&mut r, "SyncRequest")?;
                let mode = unsigned(&mut r, "SyncRequest")?;
                let target = read_schema_set(&mut r, "SyncRequest")?;
                if target.is_empty() {
                    return Err(shape("SyncRequest", "empty target set"));
                }
                Message::SyncRequest {
                    session,
                    mode,
                    target,
                }
            }
            2 => {
                expect_len(len, 4, "Entry")?;
                let session = unsigned(&mut r, "Entry")?;
                let entry = byte_string(&mut r, "Entry")?;
                let operation = match r.peek()? {
                    Header::Simple(22) => {
                        r.header()?;
                        None
                    }
                    _ => Some(byte_string(&mut r, "Entry")?),
                };
                Message::Entry {
                    session,
                    entry,
                    operation,
                }
            }
            3 => {
                expect_len(len, 3, "SyncDone")?;
                let session = unsigned(&mut r, "SyncDone")?;
                let live = match r.header()? {
                    Header::Simple(20) => false,
                    Header::Simple(21) => true,
                    _ => return Err(shape("SyncDone", "live mode is not a bool")),
                };
                Message::SyncDone { session, live }
            }
            10 => {
                expect_len(len, 3, "Have")?;
                let session = unsigned(&mut r, "Have")?;
                let authors = array(&mut r, "Have")?;
                let mut logs = Vec::with_capacity(authors.min(1024) as usize);
                for _ in 0..authors {
                    expect_len(array(&mut r, "Have")?, 2, "Have")?;
                    let key: [u8; 32] = byte_string(&mut r, "Have")?
                        .try_into()
                        .map_err(|_| shape("Have", "public key is not 32 bytes"))?;
                    let n = array(&mut r, "Have")?;
                    let mut heights = Vec::with_capacity(n.min(1024) as usize);
                    for _ in 0..n {
                        expect_len(array(&mut r, "Have")?, 2, "Have")?;
                        heights.push((unsigned(&mut r, "Have")?, unsigned(&mut r, "Have")?));
                    }
                    logs.push((key, heights));
                }
                Message::Have { session, logs }
            }
            other => return Err(MessageError::UnknownType(other)),
        };
        Ok((message, r.position()))
    }
}

fn schema_set(w: &mut Writer, ids: &[SchemaId]) {
    w.array(ids.len());
    for id in ids {
        w.text(&id.to_string());
    }
}

fn read_schema_set(r: &mut Reader<'_>, kind: &'static str) -> Result<Vec<SchemaId>, MessageError> {
    let n = array(r, kind)?;
    let mut ids: Vec<SchemaId> = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let text = match r.header()? {
            Header::Text(len) => r.text(len)?,
            _ => {
                return Err(MessageError::Shape {
                    kind,
                    problem: "schema id is not a text string",
                })
            }
        };
        let id: SchemaId = text.parse().map_err(|_| MessageError::SchemaId {
            kind,
            id: text.chars().take(200).collect(),
        })?;
        if ids.last().is_some_and(|last| *last >= id) {
            return Err(MessageError::UnsortedSchemas { kind });
        }
        ids.push(id);
    }
    Ok(ids)
}

fn array(r: &mut Reader<'_>, kind: &'static str) -> Result<u64, MessageError> {
    match r.header()? {
        Header::Array(Some(n)) => Ok(n),
        _ => Err(MessageError::Shape {
            kind,
            problem: "expected a definite-length array",
        }),
    }
}

fn unsigned(r: &mut Reader<'_>, kind: &'static str) -> Result<u64, MessageError> {
    match r.header()? {
        Header::Unsigned(n) => Ok(n),
        _ => Err(MessageError::Shape {
            kind,
            problem: "expected an unsigned integer",
        }),
    }
}

fn byte_string(r: &mut Reader<'_>, kind: &'static str) -> Result<Vec<u8>, MessageError> {
    match r.header()? {
        Header::Bytes(len) => Ok(r.bytes(len)?.to_vec()),
        _ => Err(MessageError::Shape {
            kind,
            problem: "expected a byte string",
        }),
    }
}

fn expect_len(got: u64, want: u64, kind: &'static str) -> Result<(), MessageError> {
    if got == want {
        Ok(())
    } else {
        Err(MessageError::Shape {
            kind,
            problem: "wrong number of elements",
        })
    }
}

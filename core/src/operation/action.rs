//! The operation format version and what an operation does.

use std::fmt;

/// The only operation format version.
pub const OPERATION_VERSION: u64 = 1;

/// What an operation does to its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationAction {
    Create,
    Update,
    Delete,
}

impl OperationAction {
    pub fn as_u64(&self) -> u64 {
        match self {
            OperationAction::Create => 0,
            OperationAction::Update => 1,
            OperationAction::Delete => 2,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            OperationAction::Create => "create",
            OperationAction::Update => "update",
            OperationAction::Delete => "delete",
        }
    }
}

impl fmt::Display for OperationAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

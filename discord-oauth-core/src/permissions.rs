//! Temporary minimal permissions type; replaced by the full flag table.
#![allow(missing_docs)]
bitflags::bitflags! {
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Permissions: u64 {
        const CREATE_INSTANT_INVITE = 1;
    }
}

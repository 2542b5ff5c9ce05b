//! The one-machine composition of likeness: the embedded stack and the loops
//! that run every pipeline stage in one process. `main.rs` is the CLI over it.

pub mod identity;
pub mod notify;
pub mod pipeline;
pub mod serve_cmd;
pub mod stack;

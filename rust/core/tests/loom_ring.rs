//! Model checks of the ring under loom: `RUSTFLAGS="--cfg loom" cargo test --test loom_ring`.
#![cfg(loom)]

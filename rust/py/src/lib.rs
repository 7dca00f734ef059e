//! `ferrolog._native`: the PyO3 extension behind ferrolog's hot path.
use pyo3::prelude::*;

#[pymodule]
mod _native {
    #[allow(non_upper_case_globals)]
    #[pymodule_export]
    const __version__: &str = env!("CARGO_PKG_VERSION");
}

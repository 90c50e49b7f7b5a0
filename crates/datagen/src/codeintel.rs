//! placeholder
use std::io;
use crate::copy::Script;
pub(crate) fn generate(_s: &mut Script<'_>, _t: u64, _seed: u64) -> io::Result<()> { Ok(()) }

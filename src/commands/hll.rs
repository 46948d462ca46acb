//! hyperloglog commands. Placeholder: the data-types work fills this in.

use super::table::Command;

pub(super) const COMMANDS: &[Command] = &[];

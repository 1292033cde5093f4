//! Governance: who may see which columns and rows, for which purpose.

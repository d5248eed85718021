//! sluice-config

//! sluice-lb

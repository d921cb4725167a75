//! Contract tests of the simulator over real HTTP: each behaviour the issue asks for and each
//! reproduced quirk of the reference (numbered as in its list of known problems).

mod contract {
    mod admin;
    mod auth;
    pub mod common;
    mod create;
    mod employees;
    mod faults;
    mod lifecycle;
    mod lists;
    mod read;
    mod reference;
}

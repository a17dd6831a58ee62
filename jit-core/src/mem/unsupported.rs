//! Stand-in for the libc layer on hosts that cannot run x86-64 machine code (anything but x86-64 Linux): nothing
//! can be allocated, so the types below have no values and no code is ever made executable.

use super::MemError;
use std::ops::Range;
use std::ptr::NonNull;

/// Has no values on this host.
#[derive(Debug)]
pub(super) enum Region {}

/// Has no values on this host.
#[derive(Debug)]
pub(super) enum Mapping {}

/// Has no values on this host.
#[derive(Debug)]
pub(super) enum Rewritable {}

/// Has no values on this host: nothing can be called.
#[derive(Clone, Copy, Debug)]
pub(super) enum Callable {}

impl Region {
    pub(super) fn ptr(&self) -> NonNull<u8> {
        match *self {}
    }

    pub(super) fn len(&self) -> usize {
        match *self {}
    }

    pub(super) fn seal(&self) -> Result<(), MemError> {
        match *self {}
    }

    pub(super) fn protect(&self, _range: Range<usize>, _exec: bool) -> Result<(), MemError> {
        match *self {}
    }

    pub(super) fn callable(&self) -> Callable {
        match *self {}
    }
}

impl Rewritable {
    pub(super) fn new() -> Result<Rewritable, MemError> {
        Err(MemError::UnsupportedHost)
    }

    pub(super) fn rewrite(&mut self, _code: &[u8]) -> Result<(NonNull<u8>, usize), MemError> {
        match *self {}
    }

    pub(super) fn callable(&self) -> Callable {
        match *self {}
    }
}

impl Mapping {
    pub(super) fn ptr(&self) -> NonNull<u8> {
        match *self {}
    }
}

pub(super) fn page_size() -> Result<usize, MemError> {
    Err(MemError::UnsupportedHost)
}

pub(super) fn place(_len: usize, _code: &[u8], _writable: bool) -> Result<(Region, Option<Mapping>), MemError> {
    Err(MemError::UnsupportedHost)
}

pub(super) fn writable(_len: usize, _check_exec: bool) -> Result<(Region, Option<Mapping>), MemError> {
    Err(MemError::UnsupportedHost)
}

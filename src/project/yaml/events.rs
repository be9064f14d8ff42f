//! libyaml's event parser behind a safe iterator of owned events. The reference reads
//! `project.yaml` through ruamel's C loader, whose parser is the libyaml vendored in
//! `src/project/yaml/libyaml/` (from `ruamel.yaml.clib`) and compiled by `build.rs`: parsing with
//! the same C code makes cairn accept exactly the documents the reference accepts, with
//! the same structure. `src/project/yaml/libyaml/cairn_events.c` is the narrow C side.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A position in the input: `index` in bytes, `line` and `column` from 0, the column
/// counted in characters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mark {
    pub index: usize,
    pub line: usize,
    pub column: usize,
}

/// How a scalar was written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
}

#[derive(Debug)]
pub enum Event {
    StreamStart,
    StreamEnd,
    DocumentStart,
    DocumentEnd,
    Alias(String),
    Scalar {
        value: String,
        anchor: Option<String>,
        /// The resolved tag (`tag:yaml.org,2002:str`, `!foo`, `!`), if one was written.
        tag: Option<String>,
        /// libyaml's `plain_implicit`: plain and untagged, or tagged `!`. Such a scalar's
        /// type is resolved from its text, as the reference's loader does.
        implicit: bool,
        style: Style,
    },
    SequenceStart {
        anchor: Option<String>,
        tag: Option<String>,
        /// Written `[...]`.
        flow: bool,
    },
    SequenceEnd,
    MappingStart {
        anchor: Option<String>,
        tag: Option<String>,
        /// Written `{...}`.
        flow: bool,
    },
    MappingEnd,
}

/// A scanner or parser error as libyaml reports it: what was wrong and where, and the
/// construct it was reading (`while parsing a flow sequence`) and where that began.
#[derive(Debug)]
pub struct SyntaxError {
    pub problem: String,
    pub problem_mark: Mark,
    pub context: Option<(String, Mark)>,
}

/// Events of one input, in order; after an error or the stream's end, nothing more.
pub struct Parser<'input> {
    raw: NonNull<c_void>,
    done: bool,
    /// libyaml reads the input in place.
    input: PhantomData<&'input [u8]>,
}

/// `cairn_yaml_event_t` of `cairn_events.c`.
#[repr(C)]
struct RawEvent {
    kind: c_int,
    index: usize,
    line: usize,
    column: usize,
    anchor: *const c_char,
    tag: *const c_char,
    value: *const c_char,
    length: usize,
    plain_implicit: c_int,
    style: c_int,
}

/// `cairn_yaml_error_t` of `cairn_events.c`.
#[repr(C)]
struct RawError {
    problem: *const c_char,
    problem_index: usize,
    problem_line: usize,
    problem_column: usize,
    context: *const c_char,
    context_index: usize,
    context_line: usize,
    context_column: usize,
}

unsafe extern "C" {
    fn cairn_yaml_new(input: *const u8, length: usize) -> *mut c_void;
    fn cairn_yaml_free(parser: *mut c_void);
    fn cairn_yaml_next(parser: *mut c_void, event: *mut RawEvent) -> c_int;
    fn cairn_yaml_error(parser: *const c_void, error: *mut RawError);
}

// libyaml's enums (`yaml.h`).
const STREAM_START: c_int = 1;
const DOCUMENT_START: c_int = 3;
const DOCUMENT_END: c_int = 4;
const ALIAS: c_int = 5;
const SCALAR: c_int = 6;
const SEQUENCE_START: c_int = 7;
const SEQUENCE_END: c_int = 8;
const MAPPING_START: c_int = 9;
const MAPPING_END: c_int = 10;
const FLOW_COLLECTION_STYLE: c_int = 2;

impl<'input> Parser<'input> {
    pub fn new(input: &'input str) -> Parser<'input> {
        // SAFETY: libyaml keeps a pointer to `input`, which outlives the parser (the
        // lifetime); the parser is freed once, in `drop`.
        let raw = unsafe { cairn_yaml_new(input.as_ptr(), input.len()) };
        Parser {
            raw: NonNull::new(raw).expect("libyaml could not allocate its parser"),
            done: false,
            input: PhantomData,
        }
    }

    /// The next event with its start mark, `None` after the end of the stream.
    pub fn next_event(&mut self) -> Option<Result<(Event, Mark), SyntaxError>> {
        if self.done {
            return None;
        }
        let mut raw = std::mem::MaybeUninit::<RawEvent>::uninit();
        // SAFETY: the parser is live; on success the C side fills in the whole event,
        // whose strings stay valid until the next call, and they are copied out now.
        unsafe {
            if cairn_yaml_next(self.raw.as_ptr(), raw.as_mut_ptr()) == 0 {
                self.done = true;
                let mut e = std::mem::MaybeUninit::<RawError>::uninit();
                cairn_yaml_error(self.raw.as_ptr(), e.as_mut_ptr());
                return Some(Err(syntax_error(&e.assume_init())));
            }
            let raw = raw.assume_init();
            let event = convert(&raw);
            if matches!(event, Event::StreamEnd) {
                self.done = true;
            }
            let mark = Mark {
                index: raw.index,
                line: raw.line,
                column: raw.column,
            };
            Some(Ok((event, mark)))
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated in `new`, freed once.
        unsafe { cairn_yaml_free(self.raw.as_ptr()) }
    }
}

/// SAFETY: `p` is null or a NUL-terminated string owned by libyaml.
unsafe fn c_string(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: as the function's contract says.
    let s = unsafe { CStr::from_ptr(p) };
    Some(String::from_utf8_lossy(s.to_bytes()).into_owned())
}

/// SAFETY: `e` was just filled in by `cairn_yaml_error`.
unsafe fn syntax_error(e: &RawError) -> SyntaxError {
    // SAFETY: libyaml's problem and context are static C strings or null.
    let (problem, context) = unsafe { (c_string(e.problem), c_string(e.context)) };
    SyntaxError {
        problem: problem.unwrap_or_else(|| "syntax error".into()),
        problem_mark: Mark {
            index: e.problem_index,
            line: e.problem_line,
            column: e.problem_column,
        },
        context: context.map(|c| {
            let mark = Mark {
                index: e.context_index,
                line: e.context_line,
                column: e.context_column,
            };
            (c, mark)
        }),
    }
}

/// SAFETY: `raw` is an event just produced by `cairn_yaml_next`.
unsafe fn convert(raw: &RawEvent) -> Event {
    // SAFETY: the pointers are null or valid for the current event.
    unsafe {
        let anchor = c_string(raw.anchor);
        let tag = c_string(raw.tag);
        match raw.kind {
            STREAM_START => Event::StreamStart,
            DOCUMENT_START => Event::DocumentStart,
            DOCUMENT_END => Event::DocumentEnd,
            ALIAS => Event::Alias(anchor.unwrap_or_default()),
            SCALAR => {
                let bytes = if raw.value.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(raw.value.cast::<u8>(), raw.length)
                };
                Event::Scalar {
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    anchor,
                    tag,
                    implicit: raw.plain_implicit != 0,
                    style: match raw.style {
                        2 => Style::SingleQuoted,
                        3 => Style::DoubleQuoted,
                        4 => Style::Literal,
                        5 => Style::Folded,
                        _ => Style::Plain,
                    },
                }
            }
            SEQUENCE_START => Event::SequenceStart {
                anchor,
                tag,
                flow: raw.style == FLOW_COLLECTION_STYLE,
            },
            SEQUENCE_END => Event::SequenceEnd,
            MAPPING_START => Event::MappingStart {
                anchor,
                tag,
                flow: raw.style == FLOW_COLLECTION_STYLE,
            },
            MAPPING_END => Event::MappingEnd,
            _ => Event::StreamEnd,
        }
    }
}

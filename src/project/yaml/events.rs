//! libyaml's event parser (the C library, transpiled to Rust as `libyaml-rs`) behind a
//! safe iterator of owned events. The reference reads `project.yaml` through ruamel's
//! C loader, which is libyaml: parsing with the same scanner and parser makes cairn
//! accept exactly the documents the reference accepts, with the same structure.

use std::ffi::CStr;
use std::marker::PhantomData;
use std::mem::MaybeUninit;

use libyaml_rs as sys;

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
    sys: Box<MaybeUninit<sys::yaml_parser_t>>,
    done: bool,
    /// libyaml reads the input in place.
    input: PhantomData<&'input [u8]>,
}

impl<'input> Parser<'input> {
    pub fn new(input: &'input str) -> Parser<'input> {
        // Boxed: libyaml keeps a pointer to the parser in the parser itself.
        let mut sys = Box::new(MaybeUninit::<sys::yaml_parser_t>::uninit());
        let parser = sys.as_mut_ptr();
        // SAFETY: `parser` points to memory that `yaml_parser_initialize` fills in; the
        // input outlives the parser (the lifetime), and the parser never moves.
        unsafe {
            if sys::yaml_parser_initialize(parser).fail {
                panic!("libyaml could not allocate its parser");
            }
            sys::yaml_parser_set_encoding(parser, sys::YAML_UTF8_ENCODING);
            sys::yaml_parser_set_input_string(parser, input.as_ptr(), input.len() as u64);
        }
        Parser {
            sys,
            done: false,
            input: PhantomData,
        }
    }

    /// The next event with its start mark, `None` after the end of the stream.
    pub fn next_event(&mut self) -> Option<Result<(Event, Mark), SyntaxError>> {
        if self.done {
            return None;
        }
        let parser = self.sys.as_mut_ptr();
        let mut raw = MaybeUninit::<sys::yaml_event_t>::uninit();
        // SAFETY: the parser was initialised in `new`; a successful parse fills in the
        // event, which is converted into owned data and then freed exactly once.
        unsafe {
            if sys::yaml_parser_parse(parser, raw.as_mut_ptr()).fail {
                self.done = true;
                return Some(Err(syntax_error(&*parser)));
            }
            let raw = raw.as_mut_ptr();
            let event = convert(&*raw);
            let mark = mark((*raw).start_mark);
            sys::yaml_event_delete(raw);
            if matches!(event, Event::StreamEnd) {
                self.done = true;
            }
            Some(Ok((event, mark)))
        }
    }
}

impl Drop for Parser<'_> {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { sys::yaml_parser_delete(self.sys.as_mut_ptr()) }
    }
}

fn mark(m: sys::yaml_mark_t) -> Mark {
    Mark {
        index: m.index as usize,
        line: m.line as usize,
        column: m.column as usize,
    }
}

/// SAFETY: `p` is null or a NUL-terminated string owned by libyaml.
unsafe fn c_string(p: *const u8) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: as the function's contract says.
    let s = unsafe { CStr::from_ptr(p.cast()) };
    Some(String::from_utf8_lossy(s.to_bytes()).into_owned())
}

/// SAFETY: `parser` has just failed to parse.
unsafe fn syntax_error(parser: &sys::yaml_parser_t) -> SyntaxError {
    // SAFETY: libyaml sets the problem (and maybe a context) as static C strings.
    unsafe {
        let problem = c_string(parser.problem.cast()).unwrap_or_else(|| "syntax error".into());
        let context = c_string(parser.context.cast()).map(|c| (c, mark(parser.context_mark)));
        SyntaxError {
            problem,
            problem_mark: mark(parser.problem_mark),
            context,
        }
    }
}

/// SAFETY: `raw` is an event just produced by `yaml_parser_parse`.
unsafe fn convert(raw: &sys::yaml_event_t) -> Event {
    // SAFETY: each arm reads the union member that its event type defines.
    unsafe {
        match raw.type_ {
            sys::YAML_STREAM_START_EVENT => Event::StreamStart,
            sys::YAML_DOCUMENT_START_EVENT => Event::DocumentStart,
            sys::YAML_DOCUMENT_END_EVENT => Event::DocumentEnd,
            sys::YAML_ALIAS_EVENT => {
                Event::Alias(c_string(raw.data.alias.anchor).unwrap_or_default())
            }
            sys::YAML_SCALAR_EVENT => {
                let s = raw.data.scalar;
                let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                Event::Scalar {
                    value: String::from_utf8_lossy(bytes).into_owned(),
                    anchor: c_string(s.anchor),
                    tag: c_string(s.tag),
                    implicit: s.plain_implicit,
                    style: match s.style {
                        sys::YAML_SINGLE_QUOTED_SCALAR_STYLE => Style::SingleQuoted,
                        sys::YAML_DOUBLE_QUOTED_SCALAR_STYLE => Style::DoubleQuoted,
                        sys::YAML_LITERAL_SCALAR_STYLE => Style::Literal,
                        sys::YAML_FOLDED_SCALAR_STYLE => Style::Folded,
                        _ => Style::Plain,
                    },
                }
            }
            sys::YAML_SEQUENCE_START_EVENT => {
                let s = raw.data.sequence_start;
                Event::SequenceStart {
                    anchor: c_string(s.anchor),
                    tag: c_string(s.tag),
                    flow: s.style == sys::YAML_FLOW_SEQUENCE_STYLE,
                }
            }
            sys::YAML_SEQUENCE_END_EVENT => Event::SequenceEnd,
            sys::YAML_MAPPING_START_EVENT => {
                let m = raw.data.mapping_start;
                Event::MappingStart {
                    anchor: c_string(m.anchor),
                    tag: c_string(m.tag),
                    flow: m.style == sys::YAML_FLOW_MAPPING_STYLE,
                }
            }
            sys::YAML_MAPPING_END_EVENT => Event::MappingEnd,
            _ => Event::StreamEnd,
        }
    }
}

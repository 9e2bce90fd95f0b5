import FuzzDriver

// A closure, not `fuzz` itself: converting the @_cdecl function to a C pointer in
// another file emits a second LLVMFuzzerTestOneInput symbol.
runFuzzer { data, size in fuzz(data, size) }

// Entry point. SwiftPM links an executable with `--defsym main=<module>_main`,
// which replaces libFuzzer's own `main`; so this hands the command line to
// libFuzzer's driver, which calls LLVMFuzzerTestOneInput (`fuzz`) per input.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

var arguments = CommandLine.argc
var argumentVector = CommandLine.unsafeArgv
// A closure, not `fuzz` itself: converting the @_cdecl function to a C pointer in
// another file emits a second LLVMFuzzerTestOneInput symbol.
exit(LLVMFuzzerRunDriver(&arguments, &argumentVector) { data, size in fuzz(data, size) })

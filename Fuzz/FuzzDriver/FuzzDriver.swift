// The shared entry point of the fuzz executables. SwiftPM links an executable
// with `--defsym main=<module>_main`, which replaces libFuzzer's own `main`; so
// each target's main.swift hands the command line to libFuzzer's driver here,
// which calls the target's callback per input.
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

/// Runs libFuzzer's driver with the process's arguments and exits with its status.
public func runFuzzer(_ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> Never {
    var arguments = CommandLine.argc
    var argumentVector = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&arguments, &argumentVector, callback))
}

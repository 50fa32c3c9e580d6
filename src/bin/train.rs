#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// mimalloc's own setter (linked in with the allocator above).
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}
/// `mi_option_purge_delay` in mimalloc.h (v2): how long freed memory waits before it goes back to
/// the OS. Training frees and re-allocates the same large buffers every step; never purging them
/// saves the kernel re-zeroing fresh pages (about 8% of a stage-a step).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

fn main() {
    unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    vlm_explainer::train::pipeline::main();
}

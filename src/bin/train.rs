fn main() {
    vlm_explainer::pipeline::main();
}

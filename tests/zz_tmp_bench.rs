use std::time::Instant;
use std::sync::Arc;
use compact_asr::model::{AcousticModel, ModelSpec};
#[test]
fn bench() {
    let spec = ModelSpec::load(std::path::Path::new("/tmp/bigmodel/model.toml")).unwrap();
    let t = Instant::now();
    let model = Arc::new(AcousticModel::load(&spec).unwrap());
    eprintln!("load {:?}", t.elapsed());
    let mut s = model.session();
    let frames = vec![1.0f32; 240 * 400];
    for chunk in [1usize, 4, 400] {
        let t = Instant::now();
        for c in frames.chunks(240 * chunk) { s.run(c).unwrap(); }
        let e = t.elapsed();
        eprintln!("chunk {chunk}: 400 frames (12 s audio) in {e:?} -> RTF {:.4}", e.as_secs_f64() / 12.0);
    }
}

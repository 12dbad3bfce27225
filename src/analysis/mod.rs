//! Looking inside trained networks: Grad-CAM heat maps of any stage, and accuracy on flipped test
//! images (MKSMT's robustness study; any network of the zoo).
pub mod gradcam;
pub mod robustness;

pub use gradcam::{grad_cam, grad_cam_figure, grad_cam_per_image};
pub use robustness::{flip_accuracy, Flip};

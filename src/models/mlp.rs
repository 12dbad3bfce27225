//! Multi-layer perceptron (the DC code's `MLP`: flatten → 128 → 128 → classes, ReLU).
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, activation::relu};

/// Fully connected network; hidden activations are exposed as `[N, hidden, 1, 1]` stages.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    out: Linear,
}

impl Mlp {
    /// `layers` hidden layers of `width` units for `inputs` features.
    pub fn new(inputs: usize, width: usize, layers: usize, classes: usize, device: &Device) -> Mlp {
        let hidden = (0..layers).map(|i| LinearConfig::new(if i == 0 { inputs } else { width }, width).init(device)).collect();
        Mlp { hidden, out: LinearConfig::new(if layers == 0 { inputs } else { width }, classes).init(device) }
    }
}

impl super::Backbone for Mlp {
    /// Hidden activations as `[N, width, 1, 1]`, from layer `from` on.
    fn stages_between(&self, x: Tensor<4>, from: usize, to: usize) -> Vec<Tensor<4>> {
        let mut h: Tensor<2> = x.flatten(1, 3);
        let mut out = Vec::new();
        for layer in self.hidden.iter().skip(from).take(to.saturating_sub(from)) {
            h = relu(layer.forward(h));
            let [n, c] = h.dims();
            out.push(h.clone().reshape([n, c, 1, 1]));
        }
        if out.is_empty() {
            let [n, c] = h.dims();
            out.push(h.reshape([n, c, 1, 1]));
        }
        out
    }

    /// The last hidden layer as a vector.
    fn embed(&self, last: Tensor<4>) -> Tensor<2> {
        last.flatten(1, 3)
    }
    fn classifier(&self) -> &Linear {
        &self.out
    }
    fn classifier_mut(&mut self) -> &mut Linear {
        &mut self.out
    }
}

/// The description of an MLP with `layers` hidden layers of `width` units.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MlpSpec {
    /// Hidden units per layer.
    pub width: usize,
    /// Hidden layers (0 = a linear classifier).
    pub layers: usize,
}

impl super::Spec for MlpSpec {
    fn validate(&self) -> crate::Result<()> {
        crate::error::ensure(self.width > 0 || self.layers == 0, "mlp.width", self.width, "must be ≥ 1")
    }
    fn build(&self, input: [usize; 3], classes: usize, device: &Device) -> crate::Result<super::Net> {
        Ok(super::Net::Mlp(Mlp::new(input.iter().product(), self.width, self.layers, classes, device)))
    }
    fn label(&self) -> String {
        format!("MLP {}×{}", self.layers, self.width)
    }
    /// `mlp` (the DC code's 2 × 128), `mlp-W`.
    fn parse(name: &str) -> Option<crate::Result<Self>> {
        match name.split('-').collect::<Vec<_>>().as_slice() {
            ["mlp"] => Some(Ok(MlpSpec { width: 128, layers: 2 })),
            ["mlp", w] => Some(super::number(name, w).map(|width| MlpSpec { width, layers: 2 })),
            _ => None,
        }
    }
}

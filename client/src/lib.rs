//! What the scheduler, the node agent and `miniktl` share to reach the API server: connection
//! configuration (a server URL or a kubeconfig, resolved the way kubectl resolves it) turned into a
//! kube-rs [`kube::Client`], and the kubeconfig `minik up` writes for itself.

mod config;

pub use config::{
    connect, kubeconfig_yaml, load_config, write_kubeconfig, ClientError, ConnectOptions, DEFAULT_SERVER,
};

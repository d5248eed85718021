//! Builds Envoy v3 bootstraps for tests, so a test says "a listener routing `/` to cluster `web`"
//! instead of spelling forty lines of YAML.
//!
//! Ports of the proxy's own sockets are written as placeholders (`{{admin_port}}`,
//! `{{listener_port_0}}`, ...) that [`crate::Proxy`] fills with free ports at start; hand-written
//! YAML given to the proxy may use the same placeholders.

use std::fmt::Write as _;
use std::net::SocketAddr;

const HCM_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER_TYPE: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
const TCP_PROXY_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/// A bootstrap: listeners, clusters and a loopback admin endpoint.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    listeners: Vec<ListenerKind>,
    clusters: Vec<Cluster>,
}

#[derive(Debug, Clone)]
enum ListenerKind {
    Http(HttpListener),
    Tcp(TcpListener),
}

impl Bootstrap {
    /// An empty bootstrap (admin only).
    pub fn new() -> Self {
        Self::default()
    }

    /// The common case: one HTTP listener (`stat_prefix: ingress_http`) whose only virtual host
    /// (`*`) sends everything to cluster `web` made of `endpoints`.
    pub fn http_to(endpoints: &[SocketAddr]) -> Self {
        Self::new()
            .http_listener(HttpListener::new("ingress_http").virtual_host(
                VirtualHost::new("default", &["*"]).route(Route::prefix("/").to_cluster("web")),
            ))
            .cluster(Cluster::new("web", endpoints))
    }

    /// Adds an HTTP listener (listener `listener_<index>` on `{{listener_port_<index>}}`).
    pub fn http_listener(mut self, listener: HttpListener) -> Self {
        self.listeners.push(ListenerKind::Http(listener));
        self
    }

    /// Adds a tcp_proxy listener.
    pub fn tcp_listener(mut self, listener: TcpListener) -> Self {
        self.listeners.push(ListenerKind::Tcp(listener));
        self
    }

    /// Adds a STATIC cluster.
    pub fn cluster(mut self, cluster: Cluster) -> Self {
        self.clusters.push(cluster);
        self
    }

    /// The bootstrap as YAML with port placeholders.
    pub fn to_yaml(&self) -> String {
        let mut y = String::new();
        y.push_str("admin:\n  address:\n    socket_address: { address: 127.0.0.1, port_value: {{admin_port}} }\n");
        y.push_str("static_resources:\n");
        if self.listeners.is_empty() {
            y.push_str("  listeners: []\n");
        } else {
            y.push_str("  listeners:\n");
        }
        for (index, listener) in self.listeners.iter().enumerate() {
            let _ = write!(
                y,
                "  - name: listener_{index}\n    address:\n      socket_address: {{ address: 127.0.0.1, port_value: {{{{listener_port_{index}}}}} }}\n    filter_chains:\n    - filters:\n"
            );
            match listener {
                ListenerKind::Http(http) => http.render(&mut y),
                ListenerKind::Tcp(tcp) => tcp.render(&mut y),
            }
        }
        if self.clusters.is_empty() {
            y.push_str("  clusters: []\n");
        } else {
            y.push_str("  clusters:\n");
        }
        for cluster in &self.clusters {
            cluster.render(&mut y);
        }
        y
    }
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises to JSON")
}

/// An HTTP listener: an http_connection_manager with an inline route_config.
#[derive(Debug, Clone)]
pub struct HttpListener {
    stat_prefix: String,
    virtual_hosts: Vec<VirtualHost>,
    use_remote_address: Option<bool>,
}

impl HttpListener {
    /// A listener whose stats are named `http.<stat_prefix>.*`.
    pub fn new(stat_prefix: &str) -> Self {
        Self {
            stat_prefix: stat_prefix.to_string(),
            virtual_hosts: Vec::new(),
            use_remote_address: None,
        }
    }

    /// Adds a virtual host (matched in Envoy's order: exact, suffix, prefix, `*`).
    pub fn virtual_host(mut self, vh: VirtualHost) -> Self {
        self.virtual_hosts.push(vh);
        self
    }

    /// Sets `use_remote_address` (append the peer to `x-forwarded-for`).
    pub fn use_remote_address(mut self, value: bool) -> Self {
        self.use_remote_address = Some(value);
        self
    }

    fn render(&self, y: &mut String) {
        let _ = write!(
            y,
            "      - name: envoy.filters.network.http_connection_manager\n        typed_config:\n          \"@type\": {HCM_TYPE}\n          stat_prefix: {}\n",
            self.stat_prefix
        );
        if let Some(value) = self.use_remote_address {
            let _ = writeln!(y, "          use_remote_address: {value}");
        }
        y.push_str("          route_config:\n            name: local_route\n");
        if self.virtual_hosts.is_empty() {
            y.push_str("            virtual_hosts: []\n");
        } else {
            y.push_str("            virtual_hosts:\n");
        }
        for vh in &self.virtual_hosts {
            let domains: Vec<String> = vh.domains.iter().map(|d| quoted(d)).collect();
            let _ = write!(
                y,
                "            - name: {}\n              domains: [{}]\n",
                vh.name,
                domains.join(", ")
            );
            if vh.routes.is_empty() {
                y.push_str("              routes: []\n");
            } else {
                y.push_str("              routes:\n");
            }
            for route in &vh.routes {
                route.render(y);
            }
        }
        let _ = write!(
            y,
            "          http_filters:\n          - name: envoy.filters.http.router\n            typed_config:\n              \"@type\": {ROUTER_TYPE}\n"
        );
    }
}

/// A virtual host: domains and routes in order.
#[derive(Debug, Clone)]
pub struct VirtualHost {
    name: String,
    domains: Vec<String>,
    routes: Vec<Route>,
}

impl VirtualHost {
    /// A virtual host named `name` serving `domains`.
    pub fn new(name: &str, domains: &[&str]) -> Self {
        Self {
            name: name.to_string(),
            domains: domains.iter().map(|d| (*d).to_string()).collect(),
            routes: Vec::new(),
        }
    }

    /// Appends a route (the first matching route wins).
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }
}

#[derive(Debug, Clone)]
enum Action {
    Cluster {
        name: String,
        timeout: Option<String>,
    },
    Direct {
        status: u16,
        body: Option<String>,
    },
    Redirect {
        host: Option<String>,
        path: Option<String>,
    },
}

/// A route: a path match and what to do.
#[derive(Debug, Clone)]
pub struct Route {
    match_kind: &'static str,
    match_value: String,
    action: Action,
}

impl Route {
    /// Matches paths starting with `prefix`.
    pub fn prefix(prefix: &str) -> Self {
        Self {
            match_kind: "prefix",
            match_value: prefix.to_string(),
            action: Action::Direct {
                status: 200,
                body: None,
            },
        }
    }

    /// Matches exactly `path` (query string excluded).
    pub fn path(path: &str) -> Self {
        Self {
            match_kind: "path",
            ..Self::prefix(path)
        }
    }

    /// Forwards to cluster `name`.
    pub fn to_cluster(mut self, name: &str) -> Self {
        self.action = Action::Cluster {
            name: name.to_string(),
            timeout: None,
        };
        self
    }

    /// Sets the route `timeout` (e.g. `"1s"`) of a forwarding route.
    pub fn timeout(mut self, value: &str) -> Self {
        if let Action::Cluster { timeout, .. } = &mut self.action {
            *timeout = Some(value.to_string());
        }
        self
    }

    /// Answers locally with `status` and `body`.
    pub fn direct(mut self, status: u16, body: &str) -> Self {
        self.action = Action::Direct {
            status,
            body: Some(body.to_string()),
        };
        self
    }

    /// Answers locally with `status` and no body.
    pub fn direct_empty(mut self, status: u16) -> Self {
        self.action = Action::Direct { status, body: None };
        self
    }

    /// Redirects (301) to the same host with path `path`.
    pub fn redirect_path(mut self, path: &str) -> Self {
        self.action = Action::Redirect {
            host: None,
            path: Some(path.to_string()),
        };
        self
    }

    /// Redirects (301) to host `host`, keeping the path.
    pub fn redirect_host(mut self, host: &str) -> Self {
        self.action = Action::Redirect {
            host: Some(host.to_string()),
            path: None,
        };
        self
    }

    fn render(&self, y: &mut String) {
        let _ = writeln!(
            y,
            "              - match: {{ {}: {} }}",
            self.match_kind,
            quoted(&self.match_value)
        );
        match &self.action {
            Action::Cluster { name, timeout } => {
                let _ = write!(
                    y,
                    "                route:\n                  cluster: {name}\n"
                );
                if let Some(timeout) = timeout {
                    let _ = writeln!(y, "                  timeout: {timeout}");
                }
            }
            Action::Direct { status, body } => {
                let _ = write!(
                    y,
                    "                direct_response:\n                  status: {status}\n"
                );
                if let Some(body) = body {
                    let _ = writeln!(
                        y,
                        "                  body: {{ inline_string: {} }}",
                        quoted(body)
                    );
                }
            }
            Action::Redirect { host, path } => {
                y.push_str("                redirect:\n");
                if let Some(host) = host {
                    let _ = writeln!(y, "                  host_redirect: {}", quoted(host));
                }
                if let Some(path) = path {
                    let _ = writeln!(y, "                  path_redirect: {}", quoted(path));
                }
            }
        }
    }
}

/// A tcp_proxy listener forwarding to one cluster.
#[derive(Debug, Clone)]
pub struct TcpListener {
    stat_prefix: String,
    cluster: String,
}

impl TcpListener {
    /// Forwards every connection to `cluster`; stats under `tcp.<stat_prefix>.*`.
    pub fn new(stat_prefix: &str, cluster: &str) -> Self {
        Self {
            stat_prefix: stat_prefix.to_string(),
            cluster: cluster.to_string(),
        }
    }

    fn render(&self, y: &mut String) {
        let _ = write!(
            y,
            "      - name: envoy.filters.network.tcp_proxy\n        typed_config:\n          \"@type\": {TCP_PROXY_TYPE}\n          stat_prefix: {}\n          cluster: {}\n",
            self.stat_prefix, self.cluster
        );
    }
}

/// A STATIC, ROUND_ROBIN cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    name: String,
    endpoints: Vec<SocketAddr>,
}

impl Cluster {
    /// Cluster `name` with `endpoints`.
    pub fn new(name: &str, endpoints: &[SocketAddr]) -> Self {
        Self {
            name: name.to_string(),
            endpoints: endpoints.to_vec(),
        }
    }

    fn render(&self, y: &mut String) {
        let _ = write!(
            y,
            "  - name: {0}\n    connect_timeout: 0.25s\n    type: STATIC\n    lb_policy: ROUND_ROBIN\n    load_assignment:\n      cluster_name: {0}\n",
            self.name
        );
        if self.endpoints.is_empty() {
            y.push_str("      endpoints: []\n");
            return;
        }
        y.push_str("      endpoints:\n      - lb_endpoints:\n");
        for endpoint in &self.endpoints {
            let _ = write!(
                y,
                "        - endpoint:\n            address:\n              socket_address: {{ address: {}, port_value: {} }}\n",
                endpoint.ip(),
                endpoint.port()
            );
        }
    }
}

"""Docstring fragments shared by the estimators."""

KERNEL_PARAMETERS = """\
model : torch.nn.Module, callable or None, default=None
        The network ``f(x; theta)``. A module is deep-copied at ``fit`` and
        its current parameters are ``theta``; the module passed in is never
        modified. A callable is called with the number of input features and
        must return a module. ``None`` builds :class:`sknntk.models.MLP` with
        ``hidden_layer_sizes`` and ``activation``, initialised from
        ``random_state``.
    kernel : {"nonlocal", "attention", "ntk"}, default="nonlocal"
        ``"ntk"`` is the exact empirical NTK computed with autograd,
        ``"nonlocal"`` the Monte Carlo nonlocal NTK and ``"attention"`` its
        attention-weighted version.
    gamma : float, default=0.1
        Width of the perturbation law. ``"gaussian"`` draws
        ``Delta ~ N(0, gamma**2 / 2 I_d)`` and ``"uniform"`` draws uniformly
        on the ball of radius ``gamma``.
    n_samples : int or "auto", default=256
        Number ``N`` of Monte Carlo perturbations. ``"auto"`` draws batches
        until the relative standard error of the kernel is below ``tol`` or
        ``max_samples`` is reached.
    distribution : {"gaussian", "uniform"}, default="gaussian"
        The perturbation law ``rho_gamma``.
    sampler : {"antithetic", "iid", "orthogonal", "qmc"}, default="antithetic"
        How perturbations are drawn: independent draws, pairs ``+Delta,
        -Delta``, blocks of orthonormal directions, or scrambled Sobol points.
    perturbation : {"isotropic", "directional"}, default="isotropic"
        ``"directional"`` draws ``Delta = t phi`` with ``phi`` uniform on the
        unit sphere and ``t`` from the one-dimensional law, so that
        ``||Delta||`` does not grow with the number of parameters.
    form : {"expectation", "gradient"}, default="expectation"
        ``"expectation"`` averages ``delta_k(x) . delta_k(x') / ||Delta_k||**2``;
        ``"gradient"`` multiplies two Monte Carlo nonlocal gradients, which
        biases it upwards by a relative ``O(d/N)`` for independent draws.
    normalize : bool, default=True
        Scale the estimate by ``c = d`` (the number of parameters) so that it
        tends to the exact NTK as ``gamma -> 0`` for a smooth network. With
        ``False``, ``c = 1`` and the limit is ``NTK / d``.
    attention_temperature : float, "median" or None, default=None
        Temperature ``tau`` of the attention weights
        ``softmax_k(-||delta_k(x)||**2 / tau**2)``. ``None`` uses ``gamma``;
        ``"median"`` uses the median of ``||delta_k(x)||`` over the fit data.
    tol : float, default=0.05
        Target relative standard error when ``n_samples="auto"``.
    max_samples : int, default=4096
        Largest ``N`` when ``n_samples="auto"``.
    hidden_layer_sizes : tuple of int, default=(256,)
        Widths of the default network's hidden layers (``model=None`` only).
    activation : str or callable, default="relu"
        Hidden activation of the default network, one of
        :data:`sknntk.models.ACTIVATIONS` or a torch callable.
    n_jobs : int or None, default=None
        Number of joblib workers over chunks of perturbations. The kernel is
        the same for every value and every joblib backend.
    device : str, torch.device or list, default="cpu"
        Where the forward passes run, for example ``"cuda"`` or a list of
        devices that Monte Carlo chunks are spread over (the exact NTK uses
        the first). Fitted state stays on the CPU.
    dtype : {"float64", "float32"}, default="float64"
        Floating-point type of the network and of the kernel.
    sample_chunk_size : int or "auto", default="auto"
        Perturbations per batched forward pass; ``"auto"`` keeps one chunk
        near 256 MiB.
    row_chunk_size : int or "auto", default="auto"
        Input rows per forward pass (and per Jacobian for ``kernel="ntk"``).
    random_state : int, RandomState instance or None, default=None
        Seeds the default network and the perturbations. Pass an int for
        reproducible kernels.
    verbose : int, default=0
        Show a progress bar when positive."""

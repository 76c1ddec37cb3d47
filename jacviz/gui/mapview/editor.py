"""The map editor: formula with live validation, presets, linear-map matrix, domain, overlays."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QPalette
from PyQt6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from jacviz.math.grid import Domain
from jacviz.math.jacobian import HEATMAP_QUANTITIES
from jacviz.math.presets import PRESETS, Preset, linear_formula
from jacviz.math.probe import format_number
from jacviz.state.view import CLASSES, ViewState

FORMULA_DELAY_MS = 250
"""Typing pauses this long before the formula is applied (Enter applies at once)."""

DOMAIN_TIP = "The input plane shows x in [xmin, xmax] and y in [ymin, ymax]."
INVALID_TEXT = "#B00020"
"""A field whose value cannot be used shows it in the formula error's red, on pink (a palette,
not a style sheet, so that the spin box keeps its arrows)."""
INVALID_BASE = "#FDE2E5"
MATRIX_BOUND = 10.0
"""The matrix editor's entries are in [-MATRIX_BOUND, MATRIX_BOUND], with two decimals."""
FORMULA_PLACEHOLDER = "f1, f2 in x and y, e.g. x**2 + y, x*y"


def _linear_entries(formula: str) -> tuple[float, float, float, float] | None:
    """The matrix [[a, b], [c, d]] of a linear map's ``formula``, or None.

    Only formulas as :func:`linear_formula` writes them, with entries the matrix editor
    shows exactly, count: the editor then shows the map shown, not an approximation.
    """
    parts = formula.replace(", ", " + ").split(" + ")
    if len(parts) != 4:
        return None
    entries = []
    for part, variable in zip(parts, ("x", "y", "x", "y"), strict=True):
        number, _, name = part.rpartition("*")
        try:
            value = float(number)
        except ValueError:
            return None
        if name != variable or not -MATRIX_BOUND <= value <= MATRIX_BOUND:
            return None
        entries.append(value)
    a, b, c, d = entries
    if linear_formula(a, b, c, d) != formula or any(round(v, 2) != v for v in entries):
        return None  # not one the two-decimal boxes show exactly
    return a, b, c, d


def _invalid_palette(palette: QPalette) -> QPalette:
    """``palette`` with the invalid field's colours (:data:`INVALID_TEXT` on pink)."""
    palette = QPalette(palette)
    for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
        palette.setColor(group, QPalette.ColorRole.Base, QColor(INVALID_BASE))
        palette.setColor(group, QPalette.ColorRole.Text, QColor(INVALID_TEXT))
    return palette


def _spin(low: float, high: float, step: float, decimals: int, tip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setKeyboardTracking(False)
    box.setToolTip(tip)
    return box


class MapEditor(QWidget):
    """Widgets that edit the map and the view; they emit intents and hold no state of their own.

    Signals
    -------
    sigFormulaEdited(str), sigPresetChosen(Preset), sigDomainEdited(Domain),
    sigGridLinesEdited(int), sigHEdited(float), sigHeatmapChosen(str or None),
    sigProblem(str) says why the plane typed cannot be used (not numbers), and '' once the
    fields show a plane again; sigDomainProblem(str) likewise for the domain (the status bar
    drops the error on '').
    """

    sigFormulaEdited = pyqtSignal(str)
    sigPresetChosen = pyqtSignal(object)
    sigDomainEdited = pyqtSignal(object)
    sigGridLinesEdited = pyqtSignal(int)
    sigHEdited = pyqtSignal(float)
    sigHeatmapChosen = pyqtSignal(object)
    sigProblem = pyqtSignal(str)
    sigDomainProblem = pyqtSignal(str)
    sigSliceEdited = pyqtSignal(object, object, object)
    sigJacobianOfChosen = pyqtSignal(str)
    sigOutputViewChosen = pyqtSignal(str)

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_map_group())
        layout.addWidget(self._build_slice_group())
        layout.addWidget(self._build_classes_group())
        layout.addWidget(self._build_view_group())
        self._syncing = False
        self._domain_problem = ""  # why the domain fields cannot be used ('' when they can)
        self._matrix_sent: str | None = None  # the matrix's last formula, until it is shown

    # ---- construction --------------------------------------------------------------------------
    def _build_map_group(self) -> QGroupBox:
        group = QGroupBox("Map f(x, y)")
        form = QVBoxLayout(group)
        self.presets = QComboBox()
        self.presets.addItem("Presets…")
        for entry in PRESETS:
            self.presets.addItem(entry.name, entry)
            self.presets.setItemData(
                self.presets.count() - 1, entry.note, Qt.ItemDataRole.ToolTipRole
            )
        self.presets.setToolTip("Ready-made maps, each showing one idea about Jacobians.")
        self.presets.activated.connect(self._on_preset_activated)
        form.addWidget(self.presets)

        self.formula = QLineEdit()
        self.formula.setPlaceholderText(FORMULA_PLACEHOLDER)
        self.formula.setToolTip(
            "Two comma-separated components in x and y. Operators + - * / ** (or ^),\n"
            "constants pi and e, functions sin cos tan exp log sqrt tanh relu sigmoid … (Ctrl+L)"
        )
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.formula.setFont(mono)
        self._formula_timer = QTimer(self)
        self._formula_timer.setSingleShot(True)
        self._formula_timer.setInterval(FORMULA_DELAY_MS)
        self._formula_timer.timeout.connect(self._emit_formula)
        self.formula.textEdited.connect(lambda _text: self._formula_timer.start())
        self.formula.returnPressed.connect(self._emit_formula)
        form.addWidget(self.formula)

        self.error = QLabel()
        self.error.setFont(mono)
        self.error.setStyleSheet("color: #B00020;")
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        form.addWidget(self.error)

        self.matrix_group = QWidget()
        matrix = QGridLayout(self.matrix_group)
        matrix.setContentsMargins(0, 0, 0, 0)
        matrix.addWidget(QLabel("matrix [[a, b], [c, d]]:"), 0, 0, 1, 2)
        tip = "An entry of the linear map's matrix = its Jacobian everywhere"
        self.matrix = [_spin(-MATRIX_BOUND, MATRIX_BOUND, 0.1, 2, tip) for _ in range(4)]
        for index, box in enumerate(self.matrix):
            matrix.addWidget(box, 1 + index // 2, index % 2)
            box.valueChanged.connect(self._on_matrix_changed)
        self.matrix_group.setVisible(False)
        form.addWidget(self.matrix_group)
        return group

    def _build_slice_group(self) -> QGroupBox:
        self.slice_group = QGroupBox("Plane through the network's inputs")
        self.slice_group.setToolTip(
            "A network with more than 2 inputs is shown on the plane b + s·u + t·v of its input\n"
            "space: (s, t) are the input plane's coordinates. σ and det are per unit of s and t,\n"
            "so unit, orthogonal u and v keep them the network's own stretch within the plane."
        )
        form = QFormLayout(self.slice_group)
        self.slice_fields = [QLineEdit() for _ in range(3)]
        for name, field_ in zip(
            ("base b", "direction u", "direction v"), self.slice_fields, strict=True
        ):
            field_.setPlaceholderText("comma-separated numbers, one per input")
            field_.returnPressed.connect(self._on_slice_entered)
            form.addRow(name, field_)
        apply = QPushButton("Show this plane")
        apply.clicked.connect(lambda _checked=False: self._on_slice_entered())
        form.addRow(apply)
        self.slice_group.setVisible(False)
        return self.slice_group

    def _build_classes_group(self) -> QGroupBox:
        self.classes_group = QGroupBox("Classifier")
        self.classes_group.setToolTip(
            "A map with k > 2 outputs, or a network whose file names its classes, is read as\n"
            "class logits: the input plane can show its decision regions, the inspector the\n"
            "k×2 Jacobian of its logits or probabilities, the output plane a 2D view."
        )
        form = QFormLayout(self.classes_group)
        self.jacobian_of = QComboBox()
        self.jacobian_of.addItem("logits", "logits")
        self.jacobian_of.addItem("probabilities (softmax)", "probabilities")
        self.jacobian_of.setToolTip("Whose Jacobian the inspector and heatmaps show.")
        self.jacobian_of.currentIndexChanged.connect(
            lambda i: self._syncing or self.sigJacobianOfChosen.emit(self.jacobian_of.itemData(i))
        )
        form.addRow("Jacobian of", self.jacobian_of)
        self.output_view = QComboBox()
        self.output_view.setToolTip(
            "The output plane shows the top-2 principal directions of the outputs (an\n"
            "orthonormal projection: it never magnifies) or two chosen outputs. A 2-class\n"
            "classifier's two logits are nearly opposite (a line): it is shown by its margin\n"
            "z1 − z0 (≈ signed distance to the boundary) against the position along it, or\n"
            "(an MLP) by its last hidden layer, where the last Linear layer separates the classes."
        )
        self._output_view_outputs: int | None = None  # the map the combo's entries are for
        self._output_view_shown = "pca"  # the state's choice, selected again after a rebuild
        self.output_view.currentIndexChanged.connect(
            lambda i: self._syncing or self.sigOutputViewChosen.emit(self.output_view.itemData(i))
        )
        form.addRow("Output plane", self.output_view)
        self._output_view_label = form.labelForField(self.output_view)
        self.classes_group.setVisible(False)
        return self.classes_group

    def show_classes(self, outputs: int | None) -> None:
        """Offer the classifier controls for a map of ``outputs`` outputs (None hides them).

        Every classifier can choose its output plane: with 2 classes, the margin view or the
        two logits as they are; with more, the top-2 principal directions or two outputs.
        """
        self.classes_group.setVisible(outputs is not None)
        self.output_view.setVisible(outputs is not None)
        self._output_view_label.setVisible(outputs is not None)
        if outputs is None or outputs == self._output_view_outputs:
            return
        self._output_view_outputs = outputs
        self._syncing = True
        try:
            self.output_view.clear()
            if outputs == 2:
                self.output_view.addItem("margin z1 − z0 against the boundary", "margin")
                self.output_view.addItem("last hidden layer (top-2 directions)", "hidden")
                self.output_view.addItem("the two logits as they are", "outputs(0,1)")
            else:
                self.output_view.addItem("top-2 principal directions", "pca")
            for first in range(outputs if outputs > 2 else 0):
                for second in range(first + 1, outputs):
                    self.output_view.addItem(
                        f"outputs {first + 1} and {second + 1}", f"outputs({first},{second})"
                    )
            self._select_output_view(self._output_view_shown)
        finally:
            self._syncing = False

    def _select_output_view(self, view: str) -> None:
        """Select ``view`` in the combo (a 2-output map shows its logits under "pca" too)."""
        self._output_view_shown = view
        index = self.output_view.findData(view)
        if index < 0 and view == "pca":
            index = self.output_view.findData("outputs(0,1)")
        self.output_view.setCurrentIndex(max(0, index))

    def _build_view_group(self) -> QGroupBox:
        group = QGroupBox("View")
        form = QFormLayout(group)
        domain_row = QWidget()
        domain_layout = QGridLayout(domain_row)
        domain_layout.setContentsMargins(0, 0, 0, 0)
        self.domain = [_spin(-1e6, 1e6, 0.5, 3, DOMAIN_TIP) for _ in range(4)]
        for box in self.domain:
            box.setMaximumWidth(100)
        for index, (name, box) in enumerate(
            zip(("x from", "to", "y from", "to"), self.domain, strict=True)
        ):
            domain_layout.addWidget(QLabel(name), index // 2, 2 * (index % 2))
            domain_layout.addWidget(box, index // 2, 2 * (index % 2) + 1)
            box.valueChanged.connect(self._on_domain_changed)
        form.addRow("Domain", domain_row)

        self.grid_lines = QSpinBox()
        self.grid_lines.setRange(2, 101)
        self.grid_lines.setKeyboardTracking(False)
        self.grid_lines.setToolTip("Grid lines in each direction.")
        self.grid_lines.valueChanged.connect(self._on_grid_lines_changed)
        form.addRow("Grid lines", self.grid_lines)

        self.h = _spin(
            1e-4, 1e3, 0.05, 4, "Side of the small square at p (and radius of the circle)."
        )
        self.h.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.h.valueChanged.connect(self._on_h_changed)
        form.addRow("Square size h", self.h)

        self.heatmap = QComboBox()
        self.heatmap.addItem("none", None)
        for key, label in HEATMAP_QUANTITIES.items():
            self.heatmap.addItem(label, key)
        self.heatmap.addItem("decision regions (classifiers)", CLASSES)
        self.heatmap.setToolTip(
            "Colour the input plane by a property of J. For det, red is det > 0 and blue is\n"
            "det < 0 (orientation reversed); for log|det|, red grows and blue shrinks areas.\n"
            "Black lines are det = 0, where the map folds."
        )
        self.heatmap.currentIndexChanged.connect(self._on_heatmap_changed)
        form.addRow("Heatmap", self.heatmap)
        return group

    # ---- showing state -------------------------------------------------------------------------
    def show_state(self, state: ViewState) -> None:
        """Make every widget show ``state`` without emitting intents."""
        self._syncing = True
        try:
            if not self._formula_timer.isActive():
                # While a network is shown the field is empty, so it never claims to show
                # a formula that is not on screen.
                shown = state.formula if state.network is None else ""
                if self.formula.text() != shown:
                    self.formula.setText(shown)
                self.formula.setPlaceholderText(
                    FORMULA_PLACEHOLDER
                    if state.network is None
                    else f"showing {Path(state.network).name}; type a formula to replace it"
                )
            domain = state.domain
            bounds = (domain.xmin, domain.xmax, domain.ymin, domain.ymax)
            for box, value in zip(self.domain, bounds, strict=True):
                box.setValue(value)
            self._check_domain()  # the state's domain is valid: a problem shown is gone
            self._show_matrix(state)
            self.grid_lines.setValue(state.grid_lines)
            self.h.setValue(state.h)
            self.heatmap.setCurrentIndex(max(0, self.heatmap.findData(state.heatmap)))
            self.jacobian_of.setCurrentIndex(max(0, self.jacobian_of.findData(state.jacobian_of)))
            self._select_output_view(state.output_view)
        finally:
            self._syncing = False

    def show_formula_error(self, message: str, column: int) -> None:
        """Show ``message`` under the formula with a caret at ``column`` ('' clears it)."""
        if not message:
            self.error.setVisible(False)
            self.formula.setStyleSheet("")
            return
        text = html.escape(self.formula.text(), quote=False)
        caret = ""
        if column > 0:
            caret = "&nbsp;" * (column - 1) + "^<br>"
        self.error.setText(
            f"<pre style='margin:0'>{text}<br>{caret}</pre>{html.escape(message, quote=False)}"
        )
        self.error.setVisible(True)
        self.formula.setStyleSheet("QLineEdit { border: 2px solid #B00020; }")

    def show_slice(self, plane: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> None:
        """Show the plane ``(b, u, v)`` a wide network is drawn on, or hide the group (None)."""
        self.slice_group.setVisible(plane is not None)
        if plane is not None:
            for field_, vector in zip(self.slice_fields, plane, strict=True):
                field_.setText(", ".join(format_number(float(c)) for c in vector))
            self.sigProblem.emit("")  # the fields show the plane on screen: no typo stands

    # ---- intents -------------------------------------------------------------------------------
    def _on_slice_entered(self) -> None:
        try:
            vectors = [
                tuple(float(c) for c in field_.text().split(",")) for field_ in self.slice_fields
            ]
        except ValueError:
            self.sigProblem.emit("b, u and v must be comma-separated numbers, one per input")
            return
        self.sigProblem.emit("")
        self.sigSliceEdited.emit(*vectors)

    def _show_matrix(self, state: ViewState) -> None:
        """Show the matrix editor only while the map shown is a linear map's formula.

        Otherwise editing it would silently replace another map. While an edit of the matrix
        is on its way (checked off the GUI thread), its entries are left as the user set them.
        """
        entries = None if state.network is not None else _linear_entries(state.formula)
        self.matrix_group.setVisible(entries is not None)
        if entries is None:
            self._matrix_sent = None
            return
        if self._matrix_sent is not None and self._matrix_sent != state.formula:
            return
        self._matrix_sent = None
        for box, value in zip(self.matrix, entries, strict=True):
            box.setValue(value)

    def _emit_formula(self) -> None:
        self._formula_timer.stop()
        self.sigFormulaEdited.emit(self.formula.text())

    def _on_preset_activated(self, index: int) -> None:
        entry: Preset | None = self.presets.itemData(index)
        self.presets.setCurrentIndex(0)
        if entry is None:
            return
        self.sigPresetChosen.emit(entry)  # the matrix editor shows with the linear map

    def _on_matrix_changed(self) -> None:
        if not self._syncing:
            text = linear_formula(*(box.value() for box in self.matrix))
            self.formula.setText(text)
            self._matrix_sent = text
            self.sigFormulaEdited.emit(text)

    def _on_domain_changed(self) -> None:
        if self._syncing:
            return
        domain = self._check_domain()
        if domain is not None:
            self.sigDomainEdited.emit(domain)

    def _check_domain(self) -> Domain | None:
        """The domain the fields show, or None; says when that changes (sigDomainProblem)."""
        try:
            domain: Domain | None = Domain(*(box.value() for box in self.domain))
            problem = ""
        except ValueError as error:
            domain, problem = None, str(error)
        if problem != self._domain_problem:
            self._domain_problem = problem
            self._mark_domain(problem)
            self.sigDomainProblem.emit(problem)
        return domain

    def _mark_domain(self, problem: str) -> None:
        """Mark the domain fields that cause ``problem`` in red, saying why ('' unmarks all).

        An empty x or y range marks its two fields; any other problem (a bound too large,
        a rectangle too narrow or too long) marks all four.
        """
        xmin, xmax, ymin, ymax = (box.value() for box in self.domain)
        bad_x, bad_y = xmin >= xmax, ymin >= ymax
        if not (bad_x or bad_y):
            bad_x = bad_y = bool(problem)
        for index, box in enumerate(self.domain):
            bad = bad_x if index < 2 else bad_y
            box.setPalette(_invalid_palette(box.palette()) if bad else QPalette())
            box.setToolTip(f"Not applied: {problem}" if bad else DOMAIN_TIP)

    def _on_grid_lines_changed(self, value: int) -> None:
        if not self._syncing:
            self.sigGridLinesEdited.emit(value)

    def _on_h_changed(self, value: float) -> None:
        if not self._syncing:
            self.sigHEdited.emit(value)

    def _on_heatmap_changed(self, index: int) -> None:
        if not self._syncing:
            self.sigHeatmapChosen.emit(self.heatmap.itemData(index))

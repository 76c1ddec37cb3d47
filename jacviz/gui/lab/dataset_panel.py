"""The lab's data controls: which toy dataset, its size and noise, CSV files, the clicked class.

The panel shows a :class:`~jacviz.gui.lab.lab_controller.DataSettings` and the current
dataset, and emits what the user asks for; it never makes data itself.
"""

from __future__ import annotations

from PyQt6.QtCore import QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QIcon, QPixmap
from PyQt6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from jacviz.gui.common import style
from jacviz.nets.datasets import DATASETS, MAX_CLASSES, MAX_POINTS, MAX_TEST_FRACTION, Dataset
from jacviz.state.lab import MAX_LAB_NOISE, MAX_SEED, DataSettings

_LABELS = {
    "moons": "two moons",
    "circles": "circles",
    "xor": "XOR",
    "spirals": "spirals (2 arms)",
    "spirals3": "spirals (3 arms)",
    "blobs": "Gaussian blobs",
}


def swatch(colour: str, size: int = 12) -> QIcon:
    """A filled square of ``colour``: a class's colour on its button."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(colour))
    return QIcon(pixmap)


class DatasetPanel(QGroupBox):
    """Data settings, CSV buttons, and the class that clicks on the plane add.

    Signals
    -------
    sigSettingsEdited(DataSettings)
        The user changed a generator setting.
    sigClassSelected(int)
        The user picked the class that clicks add.

    The buttons ``new_data``, ``load_csv`` and ``save_csv`` are connected by the window.
    """

    sigSettingsEdited = pyqtSignal(object)
    sigClassSelected = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Data", parent)
        self.kind = QComboBox()
        for name in DATASETS:
            self.kind.addItem(_LABELS.get(name, name), name)
        self.classes = QSpinBox()
        self.classes.setRange(2, MAX_CLASSES)
        self.classes.setToolTip(
            "Number of blobs (the other datasets have a fixed number: shown, greyed)"
        )
        # The blobs' number of classes, kept while another dataset shows its own count.
        self._blob_classes = DataSettings().n_classes
        self.noise = QDoubleSpinBox()
        self.noise.setRange(0.0, MAX_LAB_NOISE)
        self.noise.setSingleStep(0.05)
        self.noise.setToolTip("Standard deviation of the Gaussian jitter added to every point")
        self.points = QSpinBox()
        self.points.setRange(4, MAX_POINTS)
        self.points.setSingleStep(50)
        self.test_fraction = QDoubleSpinBox()
        self.test_fraction.setRange(0.0, MAX_TEST_FRACTION)
        self.test_fraction.setSingleStep(0.05)
        self.test_fraction.setToolTip(
            "Share of the points held out for testing (also for CSV files without a split)"
        )
        self.seed = QSpinBox()
        self.seed.setRange(0, MAX_SEED)
        self.seed.setToolTip("Seed of the points, their noise and the split")
        for spin in (self.classes, self.noise, self.points, self.test_fraction, self.seed):
            spin.setKeyboardTracking(False)  # apply typed numbers once, not per digit
            spin.valueChanged.connect(self._on_edited)
        self.kind.currentIndexChanged.connect(self._on_edited)

        self.new_data = QPushButton("New data")
        self.new_data.setToolTip("A fresh sample of the same kind: the next seed")
        self.load_csv = QPushButton("Load CSV…")
        self.load_csv.setToolTip("Points from a file of x,y,label[,split] lines")
        self.save_csv = QPushButton("Save CSV…")
        self.save_csv.setToolTip("Save the current points, with their train/test split")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.class_row = QHBoxLayout()
        self.class_row.setSpacing(2)
        self.class_row.addStretch(1)
        self.class_buttons = QButtonGroup(self)
        self.class_buttons.setExclusive(True)
        self.class_buttons.idClicked.connect(self.sigClassSelected)

        form = QFormLayout()
        form.addRow("Dataset", self.kind)
        form.addRow("Classes", self.classes)
        form.addRow("Noise", self.noise)
        form.addRow("Points", self.points)
        form.addRow("Test fraction", self.test_fraction)
        form.addRow("Seed", self.seed)
        buttons = QHBoxLayout()
        for button in (self.new_data, self.load_csv, self.save_csv):
            buttons.addWidget(button)
        hint = QLabel(
            "Click the plane to add a point of this class (Ctrl+click: a test point); "
            "Shift+click or right-click removes the nearest point."
        )
        hint.setWordWrap(True)
        hint.setStyleSheet(f"color: {style.GREY}")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.summary)
        layout.addWidget(QLabel("Add points of class"))
        layout.addLayout(self.class_row)
        layout.addWidget(hint)

    # ---- showing -------------------------------------------------------------------------------
    def show_settings(self, settings: DataSettings) -> None:
        """Show ``settings`` without emitting edits."""
        widgets = (self.kind, self.classes, self.noise, self.points, self.test_fraction, self.seed)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            self.kind.setCurrentIndex(max(self.kind.findData(settings.name), 0))
            self._blob_classes = settings.n_classes
            if settings.name == "blobs":  # the others show their data's count (show_dataset)
                self.classes.setValue(settings.n_classes)
            self.classes.setEnabled(settings.name == "blobs")
            self.noise.setValue(settings.noise)
            self.points.setValue(settings.n_points)
            self.test_fraction.setValue(settings.test_fraction)
            self.seed.setValue(settings.seed)
        finally:
            for widget in widgets:
                widget.blockSignals(False)

    def show_dataset(self, dataset: Dataset) -> None:
        """Describe the points shown and offer one button per class."""
        test = int(dataset.is_test.sum())
        self.summary.setText(
            f"<b>{dataset.name}</b>: {dataset.n_points} points, "
            f"{dataset.n_points - test} training (dots), {test} test (rings)"
        )
        if not self.classes.isEnabled():  # a fixed count: show the data's, not the blobs'
            self.classes.blockSignals(True)
            self.classes.setValue(dataset.n_classes)
            self.classes.blockSignals(False)
        names = tuple(dataset.class_names)
        if names == tuple(button.text() for button in self.class_buttons.buttons()):
            return
        for button in self.class_buttons.buttons():
            self.class_buttons.removeButton(button)
            self.class_row.removeWidget(button)
            button.deleteLater()
        for label, name in enumerate(names):
            button = QToolButton()
            button.setText(name)
            button.setIcon(swatch(style.CLASS_COLOURS[label % len(style.CLASS_COLOURS)]))
            button.setIconSize(QSize(12, 12))
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            button.setToolTip(f"Clicks on the plane add points of class {name}")
            self.class_buttons.addButton(button, label)
            self.class_row.insertWidget(label, button)  # before the stretch

    def show_selected_class(self, label: int) -> None:
        """Check the button of class ``label``."""
        button = self.class_buttons.button(label)
        if button is not None:
            button.setChecked(True)

    def settings(self) -> DataSettings:
        """The settings the widgets show."""
        return DataSettings(
            name=self.kind.currentData(),
            n_points=self.points.value(),
            noise=round(self.noise.value(), 6),
            test_fraction=round(self.test_fraction.value(), 6),
            seed=self.seed.value(),
            n_classes=self.classes.value() if self._blobs() else self._blob_classes,
        )

    def _blobs(self) -> bool:
        return self.kind.currentData() == "blobs"

    def _on_edited(self) -> None:
        if self._blobs() and not self.classes.isEnabled():  # back to blobs: their own count
            self.classes.blockSignals(True)
            self.classes.setValue(self._blob_classes)
            self.classes.blockSignals(False)
        elif self._blobs():
            self._blob_classes = self.classes.value()
        self.classes.setEnabled(self._blobs())
        self.sigSettingsEdited.emit(self.settings())

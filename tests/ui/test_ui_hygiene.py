"""The suite-wide check on Qt (tests/support/hygiene.py): warnings, windows and timers a test leaves behind."""

from __future__ import annotations

from PySide6.QtCore import QTimer, qWarning
from PySide6.QtWidgets import QWidget

from tests.support import hygiene


def test_a_qt_warning_is_reported(qapp):
    before = hygiene.Snapshot()
    qWarning("QObject::connect: no such signal")
    assert before.problems([]) == ["Qt QtWarningMsg: QObject::connect: no such signal"]
    hygiene.qt_messages.items.pop()  # said on purpose: not this test's trace


def test_a_window_left_open_and_a_timer_left_running_are_reported(qapp):
    before = hygiene.Snapshot()
    window = QWidget()
    window.setObjectName("forgotten")
    timer = QTimer(qapp)
    timer.start(1000)
    window.show()
    assert sorted(before.problems([])) == ["active timer left: QTimer of QApplication, every 1000 ms",
                                           "top-level widget left: QWidget 'forgotten'"]
    timer.stop()
    timer.deleteLater()
    window.close()
    window.deleteLater()
    assert before.problems([]) == []

;;; pwnm-series-tests.el --- ERT tests for pwnm.el: series, cover letters, checks -*- lexical-binding: t -*-

;;; Commentary:

;; Loaded by tests/T500-emacs.t after pwnm-tests.el, whose database and
;; helpers it uses.  The gamma series there (cover letter s0, patches s1
;; and s2) is tagged here as pwnm tags a tracked series: the cover letter
;; carries pw/gamma, pw/gamma/series/cover and the series' state.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'pwnm)

(defun pwnm-series-tests--stub ()
  "Return a stand-in for notmuch-pwnm whose explain prints the gamma series."
  (let ((file (make-temp-file "pwnm-series-stub")))
    (with-temp-file file
      (insert "#!/bin/sh\n"
	      "echo \"$*\" >>\"" pwnm-tests--tmp "/stub.log\"\n"
	      "case \"$1\" in\n"
	      "explain) printf 'series 7 in gamma: \"gamma: series\" v2, 2 of 2 patches\\n"
	      "  patch:     s1@example.org\\n  patch:     s2@example.org\\n' ;;\n"
	      "supersede) echo 'series 5 gamma \"gamma: series\" v1: 2 open patches marked superseded' ;;\n"
	      "esac\nexit 0\n"))
    (set-file-modes file #o755)
    file))

(defun pwnm-series-tests--tag-cover ()
  "Tag the gamma cover letter as pwnm tags the cover of a tracked series."
  (pwnm-tests--notmuch "tag" "+pw/gamma" "+pw/gamma/new" "+pw/gamma/series/cover"
		       "--" "id:s0@example.org"))

(ert-deftest pwnm-series-set-state-on-cover-letter ()
  (pwnm-tests--with-db
    (pwnm-series-tests--tag-cover)
    (let ((pwnm-command (pwnm-series-tests--stub))
	  (notmuch-after-tag-hook nil)
	  (asked nil)
	  (messages nil))
      (unwind-protect
	  (progn
	    (notmuch-show "id:s0@example.org")
	    (goto-char (point-min))
	    (should (equal (notmuch-show-get-message-id t) "s0@example.org"))
	    (cl-letf (((symbol-function 'y-or-n-p)
		       (lambda (prompt) (push prompt asked) t)))
	      (pwnm-tests--capture-messages messages
		(pwnm-set-state "accepted" "gamma" t)))
	    (should (equal asked '("Set series gamma: series v2: 2 patches in gamma to accepted? ")))
	    (should (equal (car messages) "pwnm: gamma: series gamma: series v2: 2 patches accepted"))
	    (dolist (id '("s1@example.org" "s2@example.org"))
	      (should (equal (pwnm-tests--pw-tags id) '("pw/gamma" "pw/gamma/accepted"))))
	    ;; The cover letter shows the series' new state too.
	    (should (equal (pwnm-tests--pw-tags "s0@example.org")
			   '("pw/gamma" "pw/gamma/accepted" "pw/gamma/series/cover"))))
	(delete-file pwnm-command)))))

(ert-deftest pwnm-series-set-state-on-thread ()
  (pwnm-tests--with-db
    (pwnm-series-tests--tag-cover)
    (let ((pwnm-command (pwnm-series-tests--stub))
	  (notmuch-after-tag-hook nil)
	  (messages nil))
      (unwind-protect
	  (progn
	    (notmuch-search "thread:{id:s0@example.org}")
	    (pwnm-tests--wait-buffer (current-buffer))
	    (goto-char (point-min))
	    (cl-letf (((symbol-function 'y-or-n-p) (lambda (_prompt) t)))
	      (pwnm-tests--capture-messages messages
		(pwnm-set-state "rfc" "gamma" t)))
	    (should (equal (car messages) "pwnm: gamma: series gamma: series v2: 2 patches rfc"))
	    (should (equal (pwnm-tests--pw-tags "s2@example.org") '("pw/gamma" "pw/gamma/rfc"))))
	(delete-file pwnm-command)))))

(defun pwnm-series-tests--faces (text)
  "Return the faces of the first character of TEXT as a list."
  (let ((face (get-text-property 0 'face text)))
    (if (listp face) face (list face))))

(ert-deftest pwnm-series-check-faces ()
  (let ((notmuch-tag-formats (append pwnm--tag-formats notmuch-tag-formats)))
    (notmuch-tag-clear-cache)
    (let ((fail (notmuch-tag-format-tag nil nil "pw/alpha/check/fail"))
	  (warn (notmuch-tag-format-tag nil nil "pw/alpha/check/warning"))
	  (good (notmuch-tag-format-tag nil nil "pw/alpha/check/success")))
      (should (equal (substring-no-properties fail) "alpha:check/fail"))
      (should (memq 'pwnm-check-fail-face (pwnm-series-tests--faces fail)))
      (should (memq 'pwnm-check-warning-face (pwnm-series-tests--faces warn)))
      (should (memq 'pwnm-check-success-face (pwnm-series-tests--faces good)))
      (should (eq (face-attribute 'pwnm-check-fail-face :inherit) 'error)))
    (notmuch-tag-clear-cache)))

(ert-deftest pwnm-series-hello-entries ()
  (let* ((pwnm-jump-prefix nil)
	 (pwnm-user nil)
	 (entries (pwnm--entries '("pw/alpha" "pw/alpha/new" "pw/alpha/check/fail"
				   "pw/alpha/series/newer" "pw/alpha/series/cover")))
	 (names (mapcar (lambda (e) (plist-get e :name)) entries)))
    (should (member "alpha: checks failing" names))
    (should (member "alpha: newer revision posted" names))
    (should-not (cl-some (lambda (n) (string-match-p "series/\\|cover" n)) names))
    (should (equal (plist-get (cl-find "alpha: checks failing" entries
				       :key (lambda (e) (plist-get e :name)) :test #'equal)
			      :query)
		   "tag:pw/alpha/check/fail and not tag:pw/alpha/archived"))))

(ert-deftest pwnm-series-hello-counts-patches ()
  ;; The cover letter carries the series' state tag (3 mails tagged
  ;; pw/gamma/new); the hello section counts the 2 patches.
  (pwnm-tests--with-db
    (pwnm-series-tests--tag-cover)
    (should (equal (pwnm-tests--notmuch "count" "tag:pw/gamma/new") "3\n"))
    (let ((text (pwnm-tests--hello-text)))
      (should (equal (pwnm-tests--group text "gamma")
		     '(("action needed" . 2) ("new" . 2))))
      (should (string-match-p "^[ \t]+2 action needed +2 new$" text)))
    ;; A state only the cover letter has is not drawn.
    (pwnm-tests--notmuch "tag" "-pw/gamma/new" "+pw/gamma/rfc" "--" "id:s0@example.org")
    (should (equal (pwnm-tests--group (pwnm-tests--hello-text) "gamma")
		   '(("action needed" . 2) ("new" . 2))))))

(ert-deftest pwnm-series-supersede ()
  (pwnm-tests--with-db
    (let ((pwnm-command (pwnm-series-tests--stub))
	  (messages nil))
      (unwind-protect
	  (progn
	    (notmuch-show "id:s1@example.org")
	    (goto-char (point-min))
	    (pwnm-tests--capture-messages messages
	      (pwnm-supersede))
	    (should (string-match-p "2 open patches marked superseded" (car messages)))
	    (should (lookup-key pwnm-command-map "S")))
	(delete-file pwnm-command)))))

;;; pwnm-series-tests.el ends here
